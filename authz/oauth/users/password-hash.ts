import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing for the gateway's built-in user list (password and authorization-code flows).
 *
 * Hashes are PHC strings: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` with unpadded standard base64,
 * the same shape other PHC tools produce, so operators can generate them with the CLI or
 * anything else that speaks PHC scrypt.
 */

const DEFAULT_LOG2_COST = 15;
const DEFAULT_BLOCK_SIZE = 8;
const DEFAULT_PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

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

interface ParsedHash {
  log2Cost: number;
  blockSize: number;
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

/**
 * A valid hash of a random password nobody knows. Verifying against it costs the same as a
 * real verification, so "unknown user" and "wrong password" take the same time.
 */
const DUMMY_HASH =
  '$scrypt$ln=15,r=8,p=1$eWRKen3mlZdrAAo/ChVivA$uSWBI6g+wEKzSkSVlJPNogt6psOqO4tlJMt5iTG41p0';

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const params = { log2Cost: DEFAULT_LOG2_COST, blockSize: DEFAULT_BLOCK_SIZE, parallelism: DEFAULT_PARALLELISM };
  const hash = await deriveKey(password, salt, KEY_BYTES, params);
  return formatPhc({ ...params, salt, hash });
}

/** Constant-time check of a password against a PHC string; any malformed hash simply fails. */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const parsed = parsePhc(phc);
  if (!parsed) return false;
  const candidate = await deriveKey(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

/** Does the same work as a real verification, always failing; call it when the user is unknown. */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await verifyPassword(password, DUMMY_HASH);
  return false;
}

/** For config validation: is this a PHC scrypt string this module can verify? */
export function isValidPasswordHash(phc: string): boolean {
  return parsePhc(phc) !== null;
}

function parsePhc(phc: unknown): ParsedHash | null {
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

function formatPhc(h: ParsedHash): string {
  return `$scrypt$ln=${h.log2Cost},r=${h.blockSize},p=${h.parallelism}$${encodeB64(h.salt)}$${encodeB64(h.hash)}`;
}

function deriveKey(
  password: string,
  salt: Buffer,
  keyLength: number,
  params: Pick<ParsedHash, 'log2Cost' | 'blockSize' | 'parallelism'>,
): Promise<Buffer> {
  const N = 2 ** params.log2Cost;
  const options: ScryptOptions = {
    N,
    r: params.blockSize,
    p: params.parallelism,
    // scrypt needs about 128*N*r bytes; Node's default cap (32 MiB) is exactly that for
    // ln=15,r=8 and Node refuses when the need reaches the cap, so allow twice the need.
    maxmem: 2 * 128 * N * params.blockSize + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
