import { html, renderLayout, type PageChrome, type SafeHtml } from './layout.js';
import { describeScopes } from './scope-descriptions.js';

/** One app the person has granted something, as the account page lists it. */
export interface GrantedApp {
  clientId: string;
  /** client_name, or client_id when the client has none (or is no longer registered). */
  name: string;
  /** The remembered consent, when there is one. */
  remembered?: { scope: string; grantedAt: number };
  /** Live refresh tokens (one per grant), newest first. */
  refreshTokens: { scope: string; createdAt: number; exp: number }[];
}

export interface AccountPageOptions extends PageChrome {
  /** Who is signed in, as shown. */
  person: string;
  fhirUser?: string;
  apps: readonly GrantedApp[];
  csrfToken: string;
  /** Where each app's withdraw form posts. */
  withdrawUrl: string;
  logoutUrl: string;
  /** Shown once after a withdrawal. */
  notice?: string;
}

/**
 * What the signed-in person has granted: per app, the remembered consent and the refresh tokens
 * the app holds, and one button that withdraws both (a CSRF-protected post per app).
 */
export function renderAccountPage(options: AccountPageOptions): string {
  const content = html`<h1 class="title">Your app access</h1>
<p class="subtitle">Signed in as <strong class="app-name">${options.person}</strong>${options.fhirUser !== undefined && html` (${options.fhirUser})`}</p>
${options.notice !== undefined && html`<div class="notice" role="status">${options.notice}</div>`}
${options.apps.length === 0 ? html`<p class="message">No app holds access you granted: nothing is remembered and no app can refresh its access.</p>` : html`<ul class="app-list">
${options.apps.map((app, index) => renderApp(options, app, index))}</ul>`}
<p class="actions"><a class="button button-secondary" href="${options.logoutUrl}">Sign out</a></p>`;
  return renderLayout({ gatewayName: options.gatewayName, stylesheetHref: options.stylesheetHref, title: 'Your app access', content });
}

function renderApp(options: AccountPageOptions, app: GrantedApp, index: number): SafeHtml {
  const headingId = `app-${index}`;
  return html`<li class="app" aria-labelledby="${headingId}">
<h2 class="app-title" id="${headingId}">${app.name}</h2>
${app.remembered !== undefined
    ? html`<p class="app-detail">Allowed without asking since ${day(app.remembered.grantedAt)}:</p>
<ul class="scope-list scope-list-compact">
${describeScopes(app.remembered.scope.split(' ')).map((description) => html`<li class="scope"><span class="scope-text">${description.text}</span><code class="scope-code">${description.scopes.join(' ')}</code></li>
`)}</ul>`
    : html`<p class="app-detail">Asks you each time.</p>`}
${app.refreshTokens.length > 0 &&
  html`<p class="app-detail">Can keep its access without you (refresh tokens):</p>
<ul class="token-list">
${app.refreshTokens.map((token) => html`<li>since ${day(token.createdAt)}, until ${day(token.exp)} at the latest: <code class="scope-code">${token.scope}</code></li>
`)}</ul>`}
<form class="form" method="post" action="${options.withdrawUrl}">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="client_id" value="${app.clientId}">
<button class="button button-danger" type="submit">Withdraw ${app.name}’s access</button>
</form>
</li>
`;
}

function day(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 10);
}
