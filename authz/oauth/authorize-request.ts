import type { ClientConfig } from '../../config/types.js';
import { OAuthError } from './oauth-error.js';
import { MAX_NONCE_LENGTH, MAX_STATE_LENGTH } from './settings.js';
import { validateCodeChallenge } from './pkce.js';
import type { Runtime } from '../runtime.js';
import { clientScopeForUserFlow, hasScope } from './scope-narrowing.js';

/** An authorization request (RFC 6749 §4.1.1 / §4.2.1 + PKCE + SMART `aud`) that passed every check. */
export interface AuthorizeRequest {
  clientId: string;
  redirectUri: string;
  responseType: 'code' | 'token';
  /** Requested scope, normalized and already within the client's registered scope. */
  scope: string;
  state?: string;
  nonce?: string;
  /** S256 challenge (the only method accepted). */
  codeChallenge?: string;
  /** OIDC `prompt` values (none alone, or login and/or consent); absent when not sent. */
  prompt?: Prompt[];
}

/** The `prompt` values the gateway acts on (OIDC Core §3.1.2.1). */
export const PROMPTS = ['none', 'login', 'consent'] as const;
export type Prompt = (typeof PROMPTS)[number];

export function hasPrompt(request: AuthorizeRequest, prompt: Prompt): boolean {
  return request.prompt?.includes(prompt) ?? false;
}

/** Where an error or a result goes back to the client: RFC 6749 §4.1.2 (query) or §4.2.2 (fragment). */
export interface RedirectTarget {
  redirectUri: string;
  mode: 'query' | 'fragment';
  state?: string;
}

type AuthorizeValidation =
  /** `launch`: the SMART EHR launch value, still to be redeemed (records/launches.ts); never stored with the request. */
  | { ok: true; request: AuthorizeRequest; client: ClientConfig; launch?: string }
  /** RFC 6749 §4.1.2.1: with no trustworthy redirect_uri, the user is told and nothing is redirected. */
  | { ok: false; kind: 'page'; title: string; message: string }
  | { ok: false; kind: 'redirect'; target: RedirectTarget; error: OAuthError };

const RESPONSE_TYPES: Readonly<Record<string, { grant: 'authorization_code' | 'implicit'; mode: 'query' | 'fragment' }>> = {
  code: { grant: 'authorization_code', mode: 'query' },
  token: { grant: 'implicit', mode: 'fragment' },
};

/**
 * Checks the client and its exact registered redirect_uri first (failures there get an error
 * page, never a redirect: RFC 9700 §4.1 open redirector), then everything else, reported by
 * redirecting back with `error` and the `state`.
 */
export function validateAuthorizeRequest(params: URLSearchParams, runtime: Runtime): AuthorizeValidation {
  const single = (name: string) => {
    const values = params.getAll(name);
    return values.length === 1 ? values[0] : undefined;
  };
  const repeated = (name: string) => params.getAll(name).length > 1;

  const clientId = single('client_id');
  const client = clientId ? runtime.clients.get(clientId) : undefined;
  if (!client) {
    return page('Unknown application', 'The application that sent you here is not registered with this server.');
  }
  const redirectUri = single('redirect_uri');
  // Exact string match (RFC 9700 §4.1.3): no normalization, no prefix, no extra query, no other port.
  if (redirectUri === undefined || !client.redirect_uris.includes(redirectUri)) {
    return page('Invalid redirect address', 'The application asked to send you back to an address it has not registered.');
  }

  const responseType = single('response_type');
  const kind = responseType === undefined ? undefined : RESPONSE_TYPES[responseType];
  const state = single('state');
  const target: RedirectTarget = { redirectUri, mode: kind?.mode ?? 'query', ...(state !== undefined ? { state } : {}) };
  const fail = (error: OAuthError): AuthorizeValidation => ({ ok: false, kind: 'redirect', target, error });

  if (state !== undefined && state.length > MAX_STATE_LENGTH) {
    return fail(new OAuthError('invalid_request', `state must be at most ${MAX_STATE_LENGTH} characters`));
  }
  for (const name of params.keys()) {
    if (repeated(name)) return fail(new OAuthError('invalid_request', `Parameter ${name} must not be repeated`));
  }
  if (!kind) {
    return fail(new OAuthError('unsupported_response_type', 'response_type must be "code" or "token"'));
  }
  if (!client.grant_types.includes(kind.grant)) {
    return fail(new OAuthError('unauthorized_client', `This client may not use response_type "${responseType}"`));
  }
  const responseMode = single('response_mode');
  if (responseMode !== undefined && responseMode !== kind.mode) {
    return fail(new OAuthError('invalid_request', `response_mode must be "${kind.mode}" for response_type "${responseType}"`));
  }

  let scope: string;
  try {
    scope = clientScopeForUserFlow(single('scope'), client.scope);
  } catch (err) {
    if (err instanceof OAuthError) return fail(err);
    throw err;
  }

  // SMART App Launch: `aud` names the FHIR server the token is for; a mismatch may mean the
  // app is being tricked into sending its token elsewhere.
  const aud = single('aud');
  if (aud === undefined) return fail(new OAuthError('invalid_request', 'aud is required: the FHIR base URL the app wants to access'));
  if (aud.replace(/\/+$/, '') !== runtime.publicUrl) {
    return fail(new OAuthError('invalid_request', `aud must be this server's FHIR base URL (${runtime.publicUrl})`));
  }

  // SMART EHR launch: the `launch` scope asks for the context of the launch value the app was
  // opened with; one without the other is a mistake the app must hear about.
  const launch = single('launch');
  const launchScope = hasScope(scope, 'launch');
  if (launchScope && launch === undefined) {
    return fail(new OAuthError('invalid_request', 'The launch scope needs the launch parameter the EHR opened the app with'));
  }
  if (launch !== undefined && !launchScope) {
    return fail(new OAuthError('invalid_request', 'The launch parameter needs the launch scope'));
  }

  const promptValues = single('prompt')?.split(' ').filter(Boolean);
  let prompt: Prompt[] | undefined;
  if (promptValues !== undefined) {
    const unknown = promptValues.find((value) => !(PROMPTS as readonly string[]).includes(value));
    if (unknown !== undefined) return fail(new OAuthError('invalid_request', `prompt "${unknown}" is not supported (none, login, consent)`));
    if (promptValues.includes('none') && promptValues.length > 1) return fail(new OAuthError('invalid_request', 'prompt=none cannot be combined with other values'));
    prompt = [...new Set(promptValues)] as Prompt[];
  }

  const nonce = single('nonce');
  if (nonce !== undefined && nonce.length > MAX_NONCE_LENGTH) {
    return fail(new OAuthError('invalid_request', `nonce must be at most ${MAX_NONCE_LENGTH} characters`));
  }

  const challenge = single('code_challenge');
  const challengeMethod = single('code_challenge_method');
  let codeChallenge: string | undefined;
  if (kind.grant === 'authorization_code') {
    if (challenge !== undefined || challengeMethod !== undefined) {
      const check = validateCodeChallenge(challenge, challengeMethod);
      if (!check.ok) return fail(new OAuthError('invalid_request', check.description));
      codeChallenge = challenge;
    } else if (client.token_endpoint_auth_method === 'none') {
      return fail(new OAuthError('invalid_request', 'Public clients must use PKCE: send code_challenge with code_challenge_method=S256'));
    }
  }

  return {
    ok: true,
    client,
    request: {
      clientId: client.client_id,
      redirectUri,
      responseType: responseType as 'code' | 'token',
      scope,
      ...(state !== undefined ? { state } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
      ...(codeChallenge !== undefined ? { codeChallenge } : {}),
      ...(prompt !== undefined && prompt.length > 0 ? { prompt } : {}),
    },
    ...(launch !== undefined ? { launch } : {}),
  };
}

function page(title: string, message: string): AuthorizeValidation {
  return { ok: false, kind: 'page', title, message };
}

/** Where the result of a validated request goes. */
export function targetOf(request: AuthorizeRequest): RedirectTarget {
  return {
    redirectUri: request.redirectUri,
    mode: request.responseType === 'token' ? 'fragment' : 'query',
    ...(request.state !== undefined ? { state: request.state } : {}),
  };
}
