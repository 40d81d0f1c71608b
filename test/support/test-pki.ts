import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/**
 * A throw-away PKI made with Debian's `openssl` for TLS tests: a CA, and certificates it (or
 * another CA) issues for servers and clients, current or already expired. Files live in a
 * temporary directory removed when the test ends.
 */

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCa {
  name: string;
  certFile: string;
  cert: string;
  /** A server certificate for `names` (DNS names or IPs in subjectAltName). */
  server(name: string, names: string[], options?: { expired?: boolean }): IssuedCertificate;
  /** A client certificate (extendedKeyUsage clientAuth). */
  client(name: string, options?: { expired?: boolean }): IssuedCertificate;
}

export interface TestPki {
  dir: string;
  ca(name: string): TestCa;
}

export function makeTestPki(t: Test): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgw-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

  return {
    dir,
    ca(name) {
      const certFile = join(dir, `${name}.pem`);
      const keyFile = join(dir, `${name}.key`);
      openssl('req', '-x509', ...newKey, '-keyout', keyFile, '-out', certFile, '-days', '3', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');

      // `openssl ca` is the 3.0 way to choose the validity dates (for expired certificates).
      const database = join(dir, `${name}-index.txt`);
      const serial = join(dir, `${name}-serial`);
      writeFileSync(database, '');
      writeFileSync(serial, '1000\n');
      const caConfig = join(dir, `${name}-ca.cnf`);
      writeFileSync(
        caConfig,
        [
          '[ca]', 'default_ca = test_ca',
          '[test_ca]', `database = ${database}`, `new_certs_dir = ${dir}`, `serial = ${serial}`, 'default_md = sha256',
          'policy = policy_any', 'unique_subject = no', 'copy_extensions = none',
          '[policy_any]', 'commonName = supplied',
        ].join('\n'),
      );

      const issue = (leaf: string, extensions: string[], expired: boolean): IssuedCertificate => {
        const leafKey = join(dir, `${leaf}.key`);
        const leafCsr = join(dir, `${leaf}.csr`);
        const leafCert = join(dir, `${leaf}.pem`);
        const extFile = join(dir, `${leaf}.ext`);
        writeFileSync(extFile, ['basicConstraints = CA:FALSE', ...extensions].join('\n'));
        openssl('req', '-new', ...newKey, '-keyout', leafKey, '-out', leafCsr, '-subj', `/CN=${leaf}`);
        const validity = expired ? ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z'] : ['-days', '2'];
        openssl('ca', '-batch', '-config', caConfig, '-cert', certFile, '-keyfile', keyFile, '-in', leafCsr, '-out', leafCert, '-notext', '-extfile', extFile, ...validity);
        return { certFile: leafCert, keyFile: leafKey, cert: readFileSync(leafCert, 'utf8'), key: readFileSync(leafKey, 'utf8') };
      };

      return {
        name,
        certFile,
        cert: readFileSync(certFile, 'utf8'),
        server: (leaf, names, options = {}) =>
          issue(
            leaf,
            [`subjectAltName = ${names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(', ')}`, 'extendedKeyUsage = serverAuth'],
            options.expired === true,
          ),
        client: (leaf, options = {}) => issue(leaf, ['extendedKeyUsage = clientAuth'], options.expired === true),
      };
    },
  };
}
