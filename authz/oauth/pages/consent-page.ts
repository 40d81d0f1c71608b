import { OAUTH_PATHS } from '../paths.js';
import { html, renderLayout, type PageChrome, type SafeHtml } from './layout.js';
import { describeScopes, type ScopeDescription } from './scope-descriptions.js';

interface ConsentUser {
  /** Who is signed in, as shown: a username or a federated person's name. */
  username: string;
  /** e.g. `Practitioner/123`. */
  fhirUser?: string;
  /** The patient in context, when there is one: an id, or a name with the id. */
  patient?: string;
}

export interface ConsentPageOptions extends PageChrome {
  /** client_name, or client_id when the client has none. */
  clientName: string;
  scopes: string[];
  user: ConsentUser;
  csrfToken: string;
  interactionId: string;
  actionUrl: string;
  /** The account page, where remembered decisions are withdrawn. */
  accountUrl?: string;
}

export function renderConsentPage(options: ConsentPageOptions): string {
  const descriptions = describeScopes(options.scopes);
  const content = html`<h1 class="title">Allow access?</h1>
<p class="subtitle"><strong class="app-name">${options.clientName}</strong> is asking to:</p>
<ul class="scope-list">
${descriptions.map(renderScope)}
</ul>
${renderAccount(options.user)}
<form class="form" method="post" action="${options.actionUrl}">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="interaction" value="${options.interactionId}">
<div class="check">
<input class="check-input" id="remember" name="remember" type="checkbox" value="on">
<label class="check-label" for="remember">Remember my decision: next time <strong>${options.clientName}</strong> asks for the same or less, allow it without asking</label>
</div>
<div class="actions">
<button class="button button-secondary" type="submit" name="decision" value="deny">Deny</button>
<button class="button button-primary" type="submit" name="decision" value="allow">Allow</button>
</div>
</form>
<p class="note">Allow only if you trust <strong>${options.clientName}</strong> with this information. You can withdraw it later on <a class="link" href="${options.accountUrl ?? OAUTH_PATHS.account}">your account page</a>.</p>`;

  return renderLayout({
    gatewayName: options.gatewayName,
    stylesheetHref: options.stylesheetHref,
    title: `Allow ${options.clientName}?`,
    content,
  });
}

function renderScope(description: ScopeDescription): SafeHtml {
  return html`<li class="scope">
<span class="scope-text">${description.text}</span>
${description.detail !== undefined && html`<span class="scope-detail">${description.detail}</span>`}
<code class="scope-code">${description.scopes.join(' ')}</code>
</li>
`;
}

function renderAccount(user: ConsentUser): SafeHtml {
  return html`<dl class="account">
<div class="account-row"><dt>Signed in as</dt><dd>${user.username}</dd></div>
${user.fhirUser !== undefined && html`<div class="account-row"><dt>Profile</dt><dd>${user.fhirUser}</dd></div>`}
${user.patient !== undefined && html`<div class="account-row"><dt>Patient record</dt><dd>${user.patient}</dd></div>`}
</dl>`;
}
