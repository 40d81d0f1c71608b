/**
 * The shell shared by the gateway's server-rendered pages (login, consent, errors) and the one
 * way they build HTML: the `html` template tag, which escapes every interpolated value unless
 * it is already-rendered markup. The pages run no script and carry no inline styles, so the
 * strict policy in securityHeaders() holds.
 */
import { OAUTH_PATHS } from '../paths.js';

const DEFAULT_GATEWAY_NAME = 'FHIR Gateway';

/** Options every page accepts, for branding and for rendering outside the gateway (previews). */
export interface PageChrome {
  gatewayName?: string;
  stylesheetHref?: string;
}

/** Markup that has already been escaped; the only thing `html` inserts verbatim. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Safe in element content and in quoted attribute values. */
export function escapeHtml(value: unknown): string {
  if (value === undefined || value === null) return '';
  return String(value).replace(/[&<>"'`]/g, (ch) => HTML_ESCAPES[ch]!);
}

type Interpolation = SafeHtml | string | number | undefined | null | false | readonly Interpolation[];

/** Template tag: escapes each value; SafeHtml passes through; arrays are concatenated; false/null/undefined render nothing. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += renderInterpolation(value) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

function renderInterpolation(value: Interpolation): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderInterpolation).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(value);
}

interface LayoutOptions extends PageChrome {
  /** Shown in the browser tab, before the gateway name. */
  title: string;
  content: SafeHtml;
  /** Modifier for the card, e.g. 'error'. */
  variant?: 'default' | 'error';
}

export function renderLayout(options: LayoutOptions): string {
  const gatewayName = options.gatewayName ?? DEFAULT_GATEWAY_NAME;
  const stylesheetHref = options.stylesheetHref ?? OAUTH_PATHS.stylesheet;
  const cardClass = options.variant === 'error' ? 'card card-error' : 'card';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${options.title} · ${gatewayName}</title>
<link rel="stylesheet" href="${stylesheetHref}">
</head>
<body>
<main class="page">
<div class="${cardClass}">
<header class="brand">
${BRAND_MARK}
<span class="brand-name">${gatewayName}</span>
</header>
${options.content}
</div>
<p class="page-footer">Protected by ${gatewayName}</p>
</main>
</body>
</html>
`.value;
}

/** A shield, drawn inline so the page needs no image request. */
const BRAND_MARK = new SafeHtml(
  '<svg class="brand-mark" viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false">' +
    '<path d="M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5l-8-3z"/>' +
    '<path class="brand-mark-check" d="m8.5 12 2.5 2.5 4.5-5"/>' +
    '</svg>',
);

interface SecurityHeaderOptions {
  /**
   * The URLs a form post on this page may end up redirecting to: the validated redirect_uri of
   * the app, and on the login page the identity providers. Chrome and Safari apply `form-action`
   * to the redirects that follow a form POST, so the pages must name their origins or the final
   * redirect is silently blocked.
   */
  formTargets?: readonly string[];
}

/** Headers for every page rendered here: nothing may run, frame it, or cache it. */
export function securityHeaders(options: SecurityHeaderOptions = {}): Record<string, string> {
  const sources = [...new Set((options.formTargets ?? []).map(formActionSource).filter((source): source is string => source !== undefined))];
  const formAction = ["'self'", ...sources].join(' ');
  return {
    'Content-Security-Policy': `default-src 'none'; style-src 'self'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
}

/** CSP source for a redirect URI: its origin, or its scheme for private-use schemes (RFC 8252). */
function formActionSource(redirectUri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch {
    return undefined;
  }
  if (url.origin !== 'null') return safeCspSource(url.origin);
  // Only reverse-domain private-use schemes (RFC 8252 §7.1), never javascript:, data: and the like.
  return url.protocol.includes('.') ? safeCspSource(url.protocol) : undefined;
}

function safeCspSource(source: string): string | undefined {
  // Whatever goes into the header must not be able to end the directive or add another.
  return /^[A-Za-z][A-Za-z0-9+.-]*:(\/\/[A-Za-z0-9.\-\[\]:]+)?$/.test(source) ? source : undefined;
}
