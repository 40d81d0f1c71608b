/** Paths the gateway answers itself; everything else is FHIR and goes through the proxy. */
export const OAUTH_PATHS = {
  token: '/oauth/token',
  authorize: '/oauth/authorize',
  introspect: '/oauth/introspect',
  revoke: '/oauth/revoke',
  jwks: '/.well-known/jwks.json',
  asMetadata: '/.well-known/oauth-authorization-server',
  smartConfiguration: '/.well-known/smart-configuration',
} as const;
