import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * How long, and how much more, the gateway reads (and throws away) of a request body it refused
 * before it closes the connection: whichever bound comes first.
 *
 * nginx lingers up to 30 s in all (lingering_time), giving up after 5 s without data
 * (lingering_timeout). 5 s in all is enough for the answer to reach a client and for it to stop
 * sending: Node's http client, fetch and most SDKs stop as soon as they have read a complete
 * answer that says `Connection: close`. 16 MiB bounds what a client that never stops can make the
 * gateway read for nothing (a few milliseconds of work), while covering the rest of a body a
 * client sends whole before it reads anything. The bounds are fixed on purpose: they only decide
 * when a connection that is already being closed goes away.
 */
export const LINGERING_CLOSE = { ms: 5_000, bytes: 16 * 1024 * 1024 } as const;

export interface LingeringBounds {
  readonly ms: number;
  readonly bytes: number;
}

/**
 * Makes this answer the connection's last (`Connection: close`) and closes the connection the
 * way nginx's lingering close does. Call it before the answer is written, when the request body
 * is refused unread (too large). Closing a socket while the client's data is still arriving
 * makes the kernel send a reset, and a client that is still sending (no `Expect: 100-continue`)
 * then sees EPIPE or ECONNRESET instead of the answer. So when the answer ends before the body
 * has arrived, its bytes are sent at once but the end is held back while the rest of the body is
 * read and discarded: until the body ends (the connection then closes cleanly), or until
 * `bounds` are reached (the connection is then cut). The end is what is held because node
 * destroys a `Connection: close` socket as soon as the ended answer is flushed.
 *
 * Here, not under gateway/, because the authorization server's body steps use it as well as the
 * gateway's FHIR refusals (imports only run downward).
 */
export function lingeringClose(req: IncomingMessage, res: ServerResponse, bounds: LingeringBounds = LINGERING_CLOSE): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  const end = res.end;
  const endNow = (args: unknown[]) => (end as (...a: unknown[]) => ServerResponse).apply(res, args);
  res.end = function endAfterDraining(...args: unknown[]): ServerResponse {
    res.end = end;
    if (req.complete || req.destroyed) return endNow(args);
    const callback = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    const [chunk, encoding] = args as [string | Buffer | Uint8Array | null | undefined, BufferEncoding | undefined];
    if (chunk !== undefined && chunk !== null) res.write(chunk, encoding ?? 'utf8');
    discardBody(req, bounds, (cut) => {
      endNow(callback ? [callback] : []);
      if (cut) req.socket.destroy();
    });
    return res;
  } as ServerResponse['end'];
}

/** Reads `req` to its end, or to the bounds (`cut`), or until the client goes away; then calls `done` once. */
function discardBody(req: IncomingMessage, bounds: LingeringBounds, done: (cut: boolean) => void): void {
  let discarded = 0;
  const finish = (cut: boolean) => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    done(cut);
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > bounds.bytes) finish(true);
  };
  const onEnd = () => finish(false);
  const onClose = () => finish(false);
  const timer = setTimeout(() => finish(true), bounds.ms);
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('close', onClose);
  req.resume();
}
