import { html, renderLayout, type PageChrome } from './layout.js';

export interface LoginPageOptions extends PageChrome {
  /** client_name, or client_id when the client has none. */
  clientName: string;
  csrfToken: string;
  interactionId: string;
  actionUrl: string;
  /** Shown above the form; keep it generic ("wrong username or password") so it reveals nothing. */
  error?: string;
  /** Re-filled after a failed attempt so the user only retypes the password. */
  username?: string;
}

export function renderLoginPage(options: LoginPageOptions): string {
  const hasError = options.error !== undefined && options.error !== '';
  // After a failed attempt the username is known, so the password is what needs typing.
  const focusPassword = options.username !== undefined && options.username !== '';
  const invalid = hasError ? html` aria-invalid="true" aria-describedby="form-error"` : html``;

  const content = html`<h1 class="title">Sign in</h1>
<p class="subtitle">to continue to <strong class="app-name">${options.clientName}</strong></p>
${hasError && html`<div class="alert" id="form-error" role="alert">${options.error}</div>`}
<form class="form" method="post" action="${options.actionUrl}" autocomplete="on">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="interaction" value="${options.interactionId}">
<div class="field">
<label class="label" for="username">Username</label>
<input class="input" id="username" name="username" type="text" value="${options.username ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" required${invalid}${focusPassword ? html`` : html` autofocus`}>
</div>
<div class="field">
<label class="label" for="password">Password</label>
<input class="input" id="password" name="password" type="password" autocomplete="current-password" required${invalid}${focusPassword ? html` autofocus` : html``}>
</div>
<button class="button button-primary button-block" type="submit">Sign in</button>
</form>
<p class="note">Sign in only if you trust <strong>${options.clientName}</strong>. You will see what it asks to access before anything is shared.</p>`;

  return renderLayout({ gatewayName: options.gatewayName, stylesheetHref: options.stylesheetHref, title: 'Sign in', content });
}
