/**
 * Credentials that never change: none, a fixed header (an API key), HTTP Basic (RFC 7617).
 * Not renewable: an upstream 401 to them means the configured secret is wrong, and a retry
 * would send the same again.
 */
import type { UpstreamCredentials } from './upstream-credentials.js';

function fixed(kind: 'none' | 'header' | 'basic', headers: Record<string, string>): UpstreamCredentials {
  const frozen = Object.freeze(headers);
  return {
    kind,
    renewable: false,
    authorize: () => Promise.resolve(frozen),
    refused: () => undefined,
    status: () => ({ ok: true }),
    close: () => Promise.resolve(),
  };
}

export function noCredentials(): UpstreamCredentials {
  return fixed('none', {});
}

export function headerCredentials(header: { name: string; value: string }): UpstreamCredentials {
  return fixed('header', { [header.name.toLowerCase()]: header.value });
}

/** RFC 7617 §2: base64 of user-id ":" password, in UTF-8 (§2.1). */
export function basicCredentials(basic: { username: string; password: string }): UpstreamCredentials {
  return fixed('basic', { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`, 'utf8').toString('base64')}` });
}
