import pino from 'pino';

/** The longest a written line may wait in memory before it reaches its destination. */
export const LOG_FLUSH_INTERVAL_MS = 250;
/** Under load, lines are written in batches of at least this many bytes (one system call each). */
const BATCH_BYTES = 16 * 1024;

export interface LogDestination {
  stream: pino.DestinationStream;
  /** Writes whatever is buffered, now, before the process exits. */
  flushSync(): void;
  /** Stops the flush timer (the stream itself stays usable). */
  stop(): void;
}

/** Every destination made here, so a dying process can flush them all (see flushAllLogsSync). */
const open = new Set<LogDestination>();

/**
 * Where the operational log and the audit log write: `stdout`, `stderr` or a file path (appended
 * to, created with its directory if absent). Lines are batched so logging costs about one system
 * call per 16 KB under load, yet none waits longer than LOG_FLUSH_INTERVAL_MS at any traffic
 * level, and `flushSync` writes the rest synchronously on the way out: an audit line that is not
 * written is not an audit trail.
 */
export function logDestination(target: string): LogDestination {
  const dest = target === 'stdout' ? 1 : target === 'stderr' ? 2 : target;
  const stream = pino.destination({ dest, sync: false, minLength: BATCH_BYTES, maxWrite: 4 * BATCH_BYTES, ...(typeof dest === 'string' ? { mkdir: true } : {}) });
  const timer = setInterval(() => {
    // flush() throws while the stream is still opening its file; the next tick will do.
    try {
      stream.flush();
    } catch {
      // not ready yet
    }
  }, LOG_FLUSH_INTERVAL_MS);
  timer.unref();
  const destination: LogDestination = {
    stream,
    flushSync() {
      try {
        stream.flushSync();
      } catch {
        // Nothing buffered, or the file is not open yet: nothing that could be written now.
      }
    },
    stop() {
      clearInterval(timer);
      open.delete(destination);
    },
  };
  open.add(destination);
  return destination;
}

/** On the way out (a signal, a fatal error): every log line still buffered, written now. */
export function flushAllLogsSync(): void {
  for (const destination of open) destination.flushSync();
}
