import type { Readable } from 'node:stream';

type BoundedRead = { ok: true; bytes: Buffer } | { ok: false; tooLarge: true };

/**
 * Reads a whole stream into memory, stopping (and destroying the stream) as soon as it passes
 * `limit` bytes: a body the gateway must inspect is never held beyond the configured bound.
 */
export async function readBounded(stream: Readable, limit: number): Promise<BoundedRead> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += buffer.length;
    if (total > limit) {
      stream.destroy();
      return { ok: false, tooLarge: true };
    }
    chunks.push(buffer);
  }
  return { ok: true, bytes: Buffer.concat(chunks, total) };
}
