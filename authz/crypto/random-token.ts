import { createHash, randomBytes } from 'node:crypto';

/** An unguessable token: `bytes` random bytes as base64url (32 bytes = 256 bits). */
export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Store keys for bearer secrets (codes, refresh tokens, sessions) are their SHA-256, so a copy
 * of the store (or a key listing) never yields a usable credential.
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
