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
  /** Where the login page's identity-provider buttons post. */
  federatedLogin: '/oauth/authorize/federated',
  /** Where the patient picker's search and choice post. */
  patientPicker: '/oauth/authorize/patient',
  /** Where the consent form posts. */
  consent: '/oauth/authorize/consent',
  /** `{callback}/{identity provider id}`: where identity providers send the browser back (the redirect URI registered there). */
  callback: '/oauth/callback',
  /** SMART EHR launch: an EHR creates a launch context for an app. */
  launch: '/oauth/launch',
  /** The signed-in person's page: the apps they granted, and a withdraw button per app. */
  account: '/oauth/account',
  /** Where the account page's withdraw buttons post. */
  accountWithdraw: '/oauth/account/withdraw',
  /** Ends the browser session (and the identity provider's, when it offers RP-initiated logout). */
  logout: '/oauth/logout',
  /** Where an identity provider sends the browser after its logout (register it there as a post_logout_redirect_uri). */
  loggedOut: '/oauth/logged-out',
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

/** Pages a browser navigates to (never fetched cross-origin): the authorize flow, sign-in callbacks, the account pages and assets. */
export function isInteractivePath(path: string): boolean {
  const under = (base: string) => path === base || path.startsWith(`${base}/`);
  return (
    under(OAUTH_PATHS.authorize) ||
    under(OAUTH_PATHS.callback) ||
    under(OAUTH_PATHS.account) ||
    path === OAUTH_PATHS.logout ||
    path === OAUTH_PATHS.loggedOut ||
    path.startsWith('/oauth/assets/')
  );
}
