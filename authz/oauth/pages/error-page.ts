import { html, renderLayout, type PageChrome } from './layout.js';

interface ErrorPageOptions extends PageChrome {
  title: string;
  /** Shown to the user as is (escaped): say what went wrong, never internal details. */
  message: string;
}

/**
 * For authorization errors that must not be sent back to the client (unknown client_id,
 * unregistered redirect_uri): redirecting then would make the gateway an open redirector.
 */
export function renderErrorPage(options: ErrorPageOptions): string {
  const content = html`<div class="status-icon" aria-hidden="true">!</div>
<h1 class="title">${options.title}</h1>
<p class="message">${options.message}</p>
<p class="note">You can close this window and return to the app you came from.</p>`;

  return renderLayout({
    gatewayName: options.gatewayName,
    stylesheetHref: options.stylesheetHref,
    title: options.title,
    variant: 'error',
    content,
  });
}
