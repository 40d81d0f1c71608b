import pino from 'pino';

/** The longest a written line may wait in memory before it reaches its destination. */
const LOG_FLUSH_INTERVAL_MS = 250;
/** Under load, lines are handed on in batches of at least this many characters. */
const BATCH_CHARS = 16 * 1024;

export interface LogDestination {
  /** What pino (or fixed-log-line.ts) writes whole lines to. */
  stream: pino.DestinationStream & { flush(callback?: (err?: Error) => void): void };
  /** Writes whatever is buffered, now, before the process exits. */
  flushSync(): void;
}

/** Every destination made here, so a dying process can flush them all (see flushAllLogsSync). */
const open = new Set<LogDestination>();

/**
 * Where the operational log and the audit log write: `stdout`, `stderr` or a file path (appended
 * to, created with its directory if absent). Lines are collected and handed to the file
 * descriptor's writer (sonic-boom, which deals with partial and refused writes) in batches of
 * 16 KB under load -- writing each line through it costs several microseconds, a batch costs
 * one write -- yet none waits longer than LOG_FLUSH_INTERVAL_MS at any traffic level, and
 * `flushSync` writes the rest synchronously on the way out: an audit line that is not written
 * is not an audit trail.
 */
export function logDestination(target: string): LogDestination {
  const dest = target === 'stdout' ? 1 : target === 'stderr' ? 2 : target;
  const sonic = pino.destination({ dest, sync: false, ...(typeof dest === 'string' ? { mkdir: true } : {}) });
  let lines: string[] = [];
  let chars = 0;
  const drain = () => {
    if (lines.length === 0) return;
    const chunk = lines.length === 1 ? lines[0]! : lines.join('');
    lines = [];
    chars = 0;
    sonic.write(chunk);
  };
  const stream = {
    write(line: string): boolean {
      lines.push(line);
      chars += line.length;
      if (chars >= BATCH_CHARS) drain();
      return true;
    },
    flush(callback?: (err?: Error) => void): void {
      drain();
      sonic.flush(callback);
    },
  };
  const timer = setInterval(drain, LOG_FLUSH_INTERVAL_MS);
  timer.unref();
  const destination: LogDestination = {
    stream,
    flushSync() {
      drain();
      try {
        sonic.flushSync();
      } catch {
        // Nothing buffered, or the file is not open yet: nothing that could be written now.
      }
    },
  };
  open.add(destination);
  return destination;
}

/** On the way out (a signal, a fatal error): every log line still buffered, written now. */
export function flushAllLogsSync(): void {
  for (const destination of open) destination.flushSync();
}
