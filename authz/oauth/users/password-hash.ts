import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { formatPasswordHash, parsePasswordHash, type ParsedPasswordHash } from '../../../config/password-hash-format.js';

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
  return formatPasswordHash({ ...params, salt, hash });
}

/** Constant-time check of a password against a PHC string; any malformed hash simply fails. */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const parsed = parsePasswordHash(phc);
  if (!parsed) return false;
  const candidate = await deriveKey(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

/** Does the same work as a real verification, always failing; call it when the user is unknown. */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await verifyPassword(password, DUMMY_HASH);
  return false;
}

function deriveKey(
  password: string,
  salt: Buffer,
  keyLength: number,
  params: Pick<ParsedPasswordHash, 'log2Cost' | 'blockSize' | 'parallelism'>,
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
