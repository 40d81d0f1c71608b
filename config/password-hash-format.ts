/**
 * The password hash format operators write in `users[].password_hash`: PHC strings
 * `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` with unpadded standard base64, the shape other PHC
 * tools produce. The config validates it; authz/oauth/users/password-hash.ts derives and
 * compares keys with it.
 */

// Bounds for parameters read back from a stored hash: a hash in a config file must not be able
// to make one login take minutes or gigabytes (nor be so weak it is pointless).
const MIN_LOG2_COST = 14;
const MAX_LOG2_COST = 20;
const MAX_BLOCK_SIZE = 32;
const MAX_PARALLELISM = 16;
const MIN_SALT_BYTES = 8;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 64;

const PHC_PATTERN = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export interface ParsedPasswordHash {
  log2Cost: number;
  blockSize: number;
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

/** For config validation: is this a PHC scrypt string this module can verify? */
export function isValidPasswordHash(phc: string): boolean {
  return parsePasswordHash(phc) !== null;
}

export function parsePasswordHash(phc: unknown): ParsedPasswordHash | null {
  if (typeof phc !== 'string') return null;
  const match = PHC_PATTERN.exec(phc);
  if (!match) return null;
  const [, ln, r, p, saltB64, hashB64] = match;
  const log2Cost = Number(ln);
  const blockSize = Number(r);
  const parallelism = Number(p);
  if (log2Cost < MIN_LOG2_COST || log2Cost > MAX_LOG2_COST) return null;
  if (blockSize < 1 || blockSize > MAX_BLOCK_SIZE) return null;
  if (parallelism < 1 || parallelism > MAX_PARALLELISM) return null;
  const salt = decodeB64(saltB64!);
  const hash = decodeB64(hashB64!);
  if (!salt || salt.length < MIN_SALT_BYTES) return null;
  if (!hash || hash.length < MIN_KEY_BYTES || hash.length > MAX_KEY_BYTES) return null;
  return { log2Cost, blockSize, parallelism, salt, hash };
}

/** Unpadded base64 that must round-trip exactly, so that one hash has one spelling. */
function decodeB64(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return encodeB64(bytes) === text ? bytes : null;
}

function encodeB64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

export function formatPasswordHash(h: ParsedPasswordHash): string {
  return `$scrypt$ln=${h.log2Cost},r=${h.blockSize},p=${h.parallelism}$${encodeB64(h.salt)}$${encodeB64(h.hash)}`;
}

