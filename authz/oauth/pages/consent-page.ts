import { html, renderLayout, type PageChrome, type SafeHtml } from './layout.js';
import { describeScopes, type ScopeDescription } from './scope-descriptions.js';

interface ConsentUser {
  username: string;
  /** e.g. `Practitioner/123`. */
  fhirUser?: string;
  /** Id of the patient in context, when there is one. */
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
<div class="actions">
<button class="button button-secondary" type="submit" name="decision" value="deny">Deny</button>
<button class="button button-primary" type="submit" name="decision" value="allow">Allow</button>
</div>
</form>
<p class="note">Allow only if you trust <strong>${options.clientName}</strong> with this information.</p>`;

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
