import type { Context } from 'koa';

/** RFC 6749 §5.1: token responses (and their errors) must never be cached. */
export function setNoStore(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}

export interface TokenResponseBody {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  patient?: string;
  encounter?: string;
  need_patient_banner?: boolean;
  /** SMART 2.x: further context of an EHR launch. */
  fhirContext?: unknown[];
  smart_style_url?: string;
  [extra: string]: unknown;
}

export function sendTokenResponse(ctx: Context, body: TokenResponseBody): void {
  setNoStore(ctx);
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = body;
}
