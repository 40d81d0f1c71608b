import type { Readable } from 'node:stream';

type BoundedRead = { ok: true; bytes: Buffer } | { ok: false; tooLarge: true };

/**
 * Reads a whole stream into memory, stopping as soon as it passes `limit` bytes: a body the
 * gateway must inspect is never held beyond the configured bound. A stream that is too large is
 * left paused, not destroyed: the caller decides what becomes of the rest (an upstream answer is
 * dropped; a client's request body is read and discarded so the client can read the 413, see
 * authz/lingering-close.ts). Rejects when the stream fails or closes before its end.
 */
export function readBounded(stream: Readable, limit: number): Promise<BoundedRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      total += buffer.length;
      if (total > limit) {
        settle();
        stream.pause();
        resolve({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(buffer);
    };
    const onEnd = () => {
      settle();
      resolve({ ok: true, bytes: Buffer.concat(chunks, total) });
    };
    const onError = (err: Error) => {
      settle();
      reject(err);
    };
    const onClose = () => {
      settle();
      reject(new Error('the stream closed before its end'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
