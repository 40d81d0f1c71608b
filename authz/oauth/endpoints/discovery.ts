import type { GrantType, TokenEndpointAuthMethod } from '../../../config/types.js';
import { OAUTH_PATHS } from '../paths.js';
import { SIGNING_ALG } from '../../tokens/signing-keys.js';

/**
 * What this gateway implements, in one place: both discovery documents are derived from it,
 * so they can only list what exists.
 */
export interface ImplementedFeatures {
  grantTypes: GrantType[];
  responseTypes: string[];
  authMethods: TokenEndpointAuthMethod[];
  /** Algorithms accepted on private_key_jwt client assertions. */
  assertionAlgs: string[];
  pkceMethods: string[];
  hasAuthorize: boolean;
  hasIntrospection: boolean;
  hasRevocation: boolean;
  smartCapabilities: string[];
  scopesSupported: string[];
}

export function authorizationServerMetadata(publicUrl: string, f: ImplementedFeatures): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    issuer: publicUrl,
    token_endpoint: publicUrl + OAUTH_PATHS.token,
    jwks_uri: publicUrl + OAUTH_PATHS.jwks,
    grant_types_supported: f.grantTypes,
    response_types_supported: f.responseTypes,
    token_endpoint_auth_methods_supported: f.authMethods,
    scopes_supported: f.scopesSupported,
    service_documentation: 'https://github.com/fhir-oauth-gateway/fhir-oauth-gateway#readme',
  };
  if (f.authMethods.includes('private_key_jwt')) meta.token_endpoint_auth_signing_alg_values_supported = f.assertionAlgs;
  if (f.hasAuthorize) {
    meta.authorization_endpoint = publicUrl + OAUTH_PATHS.authorize;
    meta.code_challenge_methods_supported = f.pkceMethods;
    meta.response_modes_supported = f.responseTypes.includes('token') ? ['query', 'fragment'] : ['query'];
    // RFC 9207: the authorization response carries `iss`, so apps can detect mix-up attacks.
    meta.authorization_response_iss_parameter_supported = true;
  }
  if (f.hasIntrospection) {
    meta.introspection_endpoint = publicUrl + OAUTH_PATHS.introspect;
    meta.introspection_endpoint_auth_methods_supported = f.authMethods.filter((m) => m !== 'none');
  }
  if (f.hasRevocation) {
    meta.revocation_endpoint = publicUrl + OAUTH_PATHS.revoke;
    meta.revocation_endpoint_auth_methods_supported = f.authMethods;
  }
  if (f.scopesSupported.includes('openid')) {
    meta.id_token_signing_alg_values_supported = [SIGNING_ALG];
    meta.subject_types_supported = ['public'];
  }
  return meta;
}

/** SMART App Launch 2.x "Conformance": /.well-known/smart-configuration. */
export function smartConfiguration(publicUrl: string, f: ImplementedFeatures): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    issuer: publicUrl,
    jwks_uri: publicUrl + OAUTH_PATHS.jwks,
    token_endpoint: publicUrl + OAUTH_PATHS.token,
    token_endpoint_auth_methods_supported: f.authMethods,
    grant_types_supported: f.grantTypes,
    scopes_supported: f.scopesSupported,
    response_types_supported: f.responseTypes,
    capabilities: f.smartCapabilities,
    code_challenge_methods_supported: f.pkceMethods,
  };
  if (f.authMethods.includes('private_key_jwt')) meta.token_endpoint_auth_signing_alg_values_supported = f.assertionAlgs;
  if (f.hasAuthorize) meta.authorization_endpoint = publicUrl + OAUTH_PATHS.authorize;
  if (f.hasIntrospection) meta.introspection_endpoint = publicUrl + OAUTH_PATHS.introspect;
  if (f.hasRevocation) meta.revocation_endpoint = publicUrl + OAUTH_PATHS.revoke;
  return meta;
}
