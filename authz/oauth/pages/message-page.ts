import { html, renderLayout, type PageChrome } from './layout.js';

export interface MessagePageOptions extends PageChrome {
  title: string;
  /** Shown as is (escaped). */
  message: string;
  /** A way on: a link styled as the page's main button. */
  link?: { href: string; label: string };
}

/** A page that only says something (signed out, not signed in, continue at the identity provider). */
export function renderMessagePage(options: MessagePageOptions): string {
  const content = html`<h1 class="title">${options.title}</h1>
<p class="message">${options.message}</p>
${options.link !== undefined && html`<p class="actions"><a class="button button-primary" href="${options.link.href}">${options.link.label}</a></p>`}`;
  return renderLayout({ gatewayName: options.gatewayName, stylesheetHref: options.stylesheetHref, title: options.title, content });
}
