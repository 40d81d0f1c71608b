import t from 'tap';
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { ConfigError, parseConfig } from '../../../config/loader.js';
import { createLogger } from '../../../gateway/process/logger.js';
import { startGateway } from '../../../gateway/server.js';
import { createStore } from '../../../gateway/store/create-store.js';
import { freePort } from '../../support/free-port.js';
import { baseRawConfig } from '../../support/stack.js';
import { makeTestPki } from '../../support/test-pki.js';

/**
 * The gateway reads upstream.tls and upstream.auth files again when it builds its upstream
 * setup: one that became unusable after the configuration loaded stops the start with a
 * ConfigError naming the key and the file (the CLI reports it and exits 2), before anything
 * listens.
 */

t.test('a file gone between loading the config and starting: a ConfigError, nothing listening', async (t) => {
  const pki = makeTestPki(t);
  const ca = pki.ca('upstream-ca');
  const port = await freePort();
  const raw = baseRawConfig(port, 'https://fhir.internal/fhir');
  raw.upstream.tls = { ca_file: ca.certFile };
  const config = parseConfig(JSON.stringify(raw), 'gateway.yaml', {});
  rmSync(ca.certFile);

  const log = createLogger(config.logging, new Writable({ write: (_chunk, _encoding, done) => done() }));
  const store = createStore(config.store, log);
  t.teardown(() => store.close());
  const error = await startGateway({ config, store, log, readyWaitMs: 0 }).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.type(error, ConfigError);
  t.match((error as ConfigError).problems, [new RegExp(`gateway\\.yaml: upstream\\.tls\\.ca_file: cannot read ${ca.certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(no such file\\)`)]);
  const listening = await fetch(`http://127.0.0.1:${port}/healthz`).then(
    () => true,
    () => false,
  );
  t.notOk(listening, 'the gateway did not start listening');
});
