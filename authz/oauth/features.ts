import { GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS } from '../../config/types.js';
import { ASSERTION_ALGORITHMS } from './clients/client-assertion.js';
import type { ImplementedFeatures } from './endpoints/discovery.js';

/** What is implemented today; both discovery documents are derived from this. */
export const FEATURES: ImplementedFeatures = {
  grantTypes: [...GRANT_TYPES],
  // authorization_code answers with a code, implicit with a token (RFC 6749 §3.1.1).
  responseTypes: ['code', 'token'],
  authMethods: [...TOKEN_ENDPOINT_AUTH_METHODS],
  assertionAlgs: [...ASSERTION_ALGORITHMS],
  // plain is refused: SMART App Launch 2 and RFC 9700 §2.1.1.
  pkceMethods: ['S256'],
  hasAuthorize: true,
  hasIntrospection: true,
  hasRevocation: true,
  smartCapabilities: [
    'launch-ehr',
    'launch-standalone',
    'client-public',
    'client-confidential-symmetric',
    'client-confidential-asymmetric',
    'context-ehr-patient',
    'context-ehr-encounter',
    'context-standalone-patient',
    'context-banner',
    'context-style',
    'permission-offline',
    'permission-online',
    'permission-patient',
    'permission-user',
    'permission-v1',
    'permission-v2',
    'sso-openid-connect',
  ],
  scopesSupported: [
    'openid',
    'fhirUser',
    'launch',
    'launch/patient',
    'offline_access',
    'online_access',
    'patient/*.cruds',
    'patient/*.rs',
    'patient/*.read',
    'patient/*.write',
    'patient/*.*',
    'user/*.cruds',
    'user/*.rs',
    'user/*.read',
    'user/*.write',
    'user/*.*',
    'system/*.cruds',
    'system/*.rs',
    'system/*.read',
    'system/*.write',
    'system/*.*',
  ],
};
