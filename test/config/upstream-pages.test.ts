import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../config/loader.js';
import { makeTestPki } from '../support/test-pki.js';

/**
 * The pages of docs/upstreams/ give "the exact config" for each kind of upstream: every YAML
 * block on them must load as it is written, once its placeholders (`<tenant-id>`), its
 * environment references and its file paths (made here: a CA, a client certificate, a
 * service-account key) are filled in. A fragment (an `auth:` block on its own) replaces that
 * part of the page's full block.
 */

const PAGES = fileURLToPath(new URL('../../docs/upstreams/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fhirgw-upstream-pages-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const pki = makeTestPki(t);
const ca = pki.ca('hospital-ca');
const client = ca.client('fhir-gateway');
const serviceAccountFile = join(dir, 'service-account.json');
writeFileSync(
  serviceAccountFile,
  JSON.stringify({
    type: 'service_account',
    private_key_id: 'kid-1',
    private_key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: 'gw@project.iam.gserviceaccount.com',
    token_uri: 'https://oauth2.googleapis.com/token',
  }),
);
/** The files a page names, by the key that names them. */
const FILES: Record<string, string> = { ca_file: ca.certFile, cert_file: client.certFile, key_file: client.keyFile };

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** `<tenant-id>` and the like become a plain word, so URLs stay URLs. */
const filled = (block: string) => block.replace(/<[^>]+>/g, 'placeholder');

function withFiles(upstream: Record<string, any>): Record<string, any> {
  const tls = upstream['tls'] as Record<string, string> | undefined;
  if (tls) for (const key of Object.keys(FILES)) if (key in tls) tls[key] = FILES[key]!;
  const auth = upstream['auth'] as Record<string, string> | undefined;
  if (auth?.['key_file'] !== undefined) auth['key_file'] = serviceAccountFile;
  return upstream;
}

const pages = readdirSync(PAGES).filter((name) => name.endsWith('.md'));
t.same(pages.sort(), ['azure.md', 'google.md', 'hapi.md', 'medplum.md'], 'a page per upstream kind');

for (const page of pages) {
  t.test(page, async (t) => {
    const blocks = yamlBlocks(readFileSync(join(PAGES, page), 'utf8')).map(filled);
    t.ok(blocks.length >= 1, 'has a configuration');
    const full = parseYaml(blocks[0]!) as { upstream: Record<string, any> };
    t.type(full.upstream, 'object', 'the first block is an upstream section');
    const variants = [full.upstream, ...blocks.slice(1).map((fragment) => ({ ...full.upstream, ...(parseYaml(fragment) as Record<string, unknown>) }))];
    const env = Object.fromEntries([...blocks.join('\n').matchAll(/\$\{(\w+)\}/g)].map((match) => [match[1]!, `value-of-${match[1]}`]));
    for (const [index, upstream] of variants.entries()) {
      const raw = { server: { public_url: 'https://gateway.example.org' }, upstream: withFiles(structuredClone(upstream)) };
      const loaded = parseConfig(JSON.stringify(raw), `${page} block ${index + 1}`, env).upstream;
      t.equal(loaded.url, upstream['url'], `block ${index + 1} loads`);
      if (upstream['auth'] !== undefined) t.equal(loaded.auth?.type, upstream['auth'].type, `block ${index + 1}: auth ${String(upstream['auth'].type)}`);
      if (upstream['identity'] !== undefined) t.equal(loaded.identity?.headers, upstream['identity'].headers ?? false, `block ${index + 1}: identity`);
    }
  });
}
