import pino, { type Logger } from 'pino';

type Internals = {
  [key: symbol]: unknown;
};

/**
 * A writer for one hot log line of a fixed shape (the request line, the audit record), in
 * exactly the JSON pino writes -- `{"level":30,"time":…,<bindings>,<fields>,"msg":…}` -- to the
 * logger's own destination, so it interleaves with the logger's other lines. It skips pino's
 * generic per-key serializer (and redaction): the fields are the caller's own, never a secret,
 * and JSON.stringify does the escaping. Undefined fields are left out, as pino does.
 */
export function fixedLogLine(logger: Logger, message: string): (fields: object) => void {
  const internals = logger as unknown as Internals;
  const stream = internals[pino.symbols.streamSym] as { write(line: string): void };
  const time = internals[pino.symbols.timeSym] as () => string;
  const bindings = internals[pino.symbols.chindingsSym] as string;
  const messageKey = internals[pino.symbols.messageKeySym] as string;
  const head = `{"level":${logger.levels.values.info}`;
  const tail = `,${JSON.stringify(messageKey)}:${JSON.stringify(message)}}\n`;
  return (fields) => {
    if (!logger.isLevelEnabled('info')) return;
    const json = JSON.stringify(fields);
    stream.write(head + time() + bindings + (json.length > 2 ? ',' + json.slice(1, -1) : '') + tail);
  };
}
