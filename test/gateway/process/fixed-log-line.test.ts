import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { fixedLogLine } from '../../../gateway/process/fixed-log-line.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}
const settle = () => new Promise((resolve) => setImmediate(resolve));

const awkward = {
  req_id: 'r-1',
  method: 'GET',
  path: '/Patient/"quoted"\\back\u0001\u00e9\u2028',
  status: 200,
  ms: 1.25,
  client_id: 'app',
  upstream_error: undefined,
};

t.test('writes exactly what pino writes for the same fields (timestamp off, as the audit log)', async (t) => {
  const { lines, stream } = capture();
  const logger = pino({ base: { log: 'audit' }, timestamp: false, messageKey: 'event' }, stream);
  logger.info(awkward, 'fhir-access');
  fixedLogLine(logger, 'fhir-access')(awkward);
  await settle();
  t.equal(lines.length, 2);
  t.equal(lines[1], lines[0], 'byte for byte');
  t.notOk(lines[1]!.includes('upstream_error'), 'undefined fields left out');
  t.same(JSON.parse(lines[1]!).path, awkward.path, 'escaped so it parses back');
});

t.test('with a timestamp and bindings (the operational log), the same fields in the same order', async (t) => {
  const { lines, stream } = capture();
  const logger = pino({ level: 'info', base: { service: 'svc' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
  logger.info(awkward, 'request');
  fixedLogLine(logger, 'request')(awkward);
  await settle();
  const [theirs, ours] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(Object.keys(ours!), Object.keys(theirs!));
  t.same({ ...ours, time: 'x' }, { ...theirs, time: 'x' });
  t.ok(!Number.isNaN(Date.parse(String(ours!.time))), 'an ISO time');
});

t.test('nothing is written when info is off', async (t) => {
  const { lines, stream } = capture();
  const logger = pino({ level: 'warn' }, stream);
  fixedLogLine(logger, 'request')(awkward);
  await settle();
  t.same(lines, []);
});
