/**
 * Every path the authorization server answers, in one place. The gateway's router sends
 * everything under these prefixes here and everything else to the FHIR proxy; discovery, the
 * pages and CORS read their paths from this list.
 */
export const OAUTH_PATHS = {
  token: '/oauth/token',
  authorize: '/oauth/authorize',
  /** Where the login form posts. */
  login: '/oauth/authorize/login',
  /** Where the consent form posts. */
  consent: '/oauth/authorize/consent',
  introspect: '/oauth/introspect',
  revoke: '/oauth/revoke',
  /** The pages' one stylesheet (pages carry no inline style or script: CSP). */
  stylesheet: '/oauth/assets/styles.css',
  jwks: '/.well-known/jwks.json',
  asMetadata: '/.well-known/oauth-authorization-server',
  smartConfiguration: '/.well-known/smart-configuration',
} as const;

const AUTHORIZATION_SERVER_PREFIXES = ['/oauth/', '/.well-known/'] as const;

/** Is this path the authorization server's (as opposed to FHIR, forwarded upstream)? */
export function isAuthorizationServerPath(path: string): boolean {
  return AUTHORIZATION_SERVER_PREFIXES.some((prefix) => path.startsWith(prefix));
}

/** Pages a browser navigates to (never fetched cross-origin): the authorize flow and its assets. */
export function isInteractivePath(path: string): boolean {
  return path === OAUTH_PATHS.authorize || path.startsWith(`${OAUTH_PATHS.authorize}/`) || path.startsWith('/oauth/assets/');
}
