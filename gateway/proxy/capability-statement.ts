import { OAUTH_PATHS } from '../../authz/oauth/paths.js';

/** SMART App Launch 2.x "Conformance": the security block a CapabilityStatement must carry. */
const SMART_SECURITY_SERVICE = {
  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
  code: 'SMART-on-FHIR',
  display: 'SMART-on-FHIR',
};
const OAUTH_URIS_EXTENSION = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

function smartSecurity(publicUrl: string) {
  const uri = (url: string, path: string) => ({ url, valueUri: publicUrl + path });
  return {
    extension: [
      {
        url: OAUTH_URIS_EXTENSION,
        extension: [
          uri('authorize', OAUTH_PATHS.authorize),
          uri('token', OAUTH_PATHS.token),
          uri('introspect', OAUTH_PATHS.introspect),
          uri('revoke', OAUTH_PATHS.revoke),
        ],
      },
    ],
    cors: true,
    service: [{ coding: [SMART_SECURITY_SERVICE], text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)' }],
    description: `Access tokens are issued by this gateway; see ${publicUrl}${OAUTH_PATHS.smartConfiguration}`,
  };
}

/**
 * The upstream's CapabilityStatement as the gateway's clients must see it: the gateway's
 * security (the upstream knows nothing of it) on every `rest` entry, and the public base URL in
 * place of the upstream's. Returns undefined when the upstream did not send a CapabilityStatement.
 */
export function gatewayCapabilityStatement(upstream: unknown, publicUrl: string): Record<string, unknown> | undefined {
  if (upstream === null || typeof upstream !== 'object' || Array.isArray(upstream)) return undefined;
  const statement = { ...(upstream as Record<string, unknown>) };
  if (statement['resourceType'] !== 'CapabilityStatement') return undefined;
  const rest = Array.isArray(statement['rest']) && statement['rest'].length > 0 ? (statement['rest'] as unknown[]) : [{ mode: 'server' }];
  statement['rest'] = rest.map((entry) => ({ ...(entry as Record<string, unknown>), security: smartSecurity(publicUrl) }));
  const implementation = statement['implementation'];
  if (implementation !== null && typeof implementation === 'object' && !Array.isArray(implementation)) {
    statement['implementation'] = { ...(implementation as Record<string, unknown>), url: publicUrl };
  }
  return statement;
}
