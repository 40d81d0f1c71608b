import { html, renderLayout, type PageChrome, type SafeHtml } from './layout.js';

/** An identity provider's button: its id goes back in the post, its name is the label. */
export interface ProviderButton {
  id: string;
  name: string;
}

export interface LoginPageOptions extends PageChrome {
  /** client_name, or client_id when the client has none. */
  clientName: string;
  csrfToken: string;
  interactionId: string;
  /** Where the username and password form posts. */
  actionUrl: string;
  /** One button per identity provider, in config order, above the local form. Default: none. */
  providers?: readonly ProviderButton[];
  /** Where the provider buttons post. Required with `providers`. */
  providerActionUrl?: string;
  /** Show the username and password form (only when `users:` is non-empty). Default: true. */
  localForm?: boolean;
  /** Shown above the form; keep it generic ("wrong username or password") so it reveals nothing. */
  error?: string;
  /** Re-filled after a failed attempt so the user only retypes the password. */
  username?: string;
}

export function renderLoginPage(options: LoginPageOptions): string {
  const hasError = options.error !== undefined && options.error !== '';
  const providers = options.providers ?? [];
  const localForm = options.localForm ?? true;
  const content = html`<h1 class="title">Sign in</h1>
<p class="subtitle">to continue to <strong class="app-name">${options.clientName}</strong></p>
${hasError && html`<div class="alert" id="form-error" role="alert">${options.error}</div>`}
${providers.length > 0 && renderProviderButtons(options, providers, !localForm)}
${providers.length > 0 && localForm && html`<p class="divider"><span>or sign in with a username</span></p>`}
${localForm && renderLocalForm(options, hasError, providers.length === 0 || hasError)}
${providers.length === 0 && !localForm && html`<p class="message">No way to sign in is set up on this server. Ask its administrator.</p>`}
<p class="note">Sign in only if you trust <strong>${options.clientName}</strong>. You will see what it asks to access before anything is shared.</p>`;

  return renderLayout({ gatewayName: options.gatewayName, stylesheetHref: options.stylesheetHref, title: 'Sign in', content });
}

function renderProviderButtons(options: LoginPageOptions, providers: readonly ProviderButton[], focusFirst: boolean): SafeHtml {
  return html`<form class="form providers" method="post" action="${options.providerActionUrl ?? ''}">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="interaction" value="${options.interactionId}">
${providers.map(
  (provider, index) =>
    html`<button class="button button-provider button-block" type="submit" name="provider" value="${provider.id}"${focusFirst && index === 0 ? html` autofocus` : html``}>Sign in with ${provider.name}</button>
`,
)}</form>`;
}

function renderLocalForm(options: LoginPageOptions, hasError: boolean, focusable: boolean): SafeHtml {
  // After a failed attempt the username is known, so the password is what needs typing.
  const focusPassword = options.username !== undefined && options.username !== '';
  const invalid = hasError ? html` aria-invalid="true" aria-describedby="form-error"` : html``;
  return html`<form class="form" method="post" action="${options.actionUrl}" autocomplete="on">
<input type="hidden" name="csrf" value="${options.csrfToken}">
<input type="hidden" name="interaction" value="${options.interactionId}">
<div class="field">
<label class="label" for="username">Username</label>
<input class="input" id="username" name="username" type="text" value="${options.username ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" required${invalid}${focusable && !focusPassword ? html` autofocus` : html``}>
</div>
<div class="field">
<label class="label" for="password">Password</label>
<input class="input" id="password" name="password" type="password" autocomplete="current-password" required${invalid}${focusable && focusPassword ? html` autofocus` : html``}>
</div>
<button class="button button-primary button-block" type="submit">Sign in</button>
</form>`;
}
