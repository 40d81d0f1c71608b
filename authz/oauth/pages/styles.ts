/**
 * The one stylesheet of the login, consent and error pages, served at OAUTH_PATHS.stylesheet
 * (layout.ts) so the pages can keep `style-src 'self'`. It is a string here rather than a file
 * so it ships inside the build and needs no path resolution at runtime. System fonts only:
 * the CSP allows no font requests, and they load instantly.
 */
export const PAGE_STYLES = `
:root {
  color-scheme: light dark;
  --bg: #eef2f7;
  --bg-accent: #dfe8f5;
  --card: #ffffff;
  --text: #17212f;
  --muted: #5b6878;
  --border: #d5dde8;
  --primary: #1f5fbf;
  --primary-hover: #184e9f;
  --primary-text: #ffffff;
  --focus: #7aa7ff;
  --danger: #b42318;
  --danger-bg: #fef3f2;
  --danger-border: #fecdca;
  --check: #15803d;
  --code-bg: #f3f6fa;
  --radius: 14px;
  --shadow: 0 1px 2px rgba(16, 24, 40, 0.06), 0 12px 32px rgba(16, 24, 40, 0.10);
}

@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e141d;
    --bg-accent: #142033;
    --card: #172130;
    --text: #e8edf4;
    --muted: #9aa7b8;
    --border: #2a3850;
    --primary: #4d8dff;
    --primary-hover: #6ea2ff;
    --primary-text: #0b1220;
    --focus: #9cc0ff;
    --danger: #ff8a80;
    --danger-bg: #2c1518;
    --danger-border: #5c2a2e;
    --check: #4ade80;
    --code-bg: #101824;
    --shadow: 0 1px 2px rgba(0, 0, 0, 0.4), 0 12px 32px rgba(0, 0, 0, 0.45);
  }
}

*, *::before, *::after { box-sizing: border-box; }

html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }

body {
  margin: 0;
  min-height: 100vh;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
  font-size: 16px;
  line-height: 1.5;
  color: var(--text);
  background: radial-gradient(1200px 600px at 50% -10%, var(--bg-accent), var(--bg));
  background-color: var(--bg);
}

.page {
  min-height: 100vh;
  display: flex;
  flex-direction: column;
  align-items: center;
  justify-content: center;
  padding: 32px 16px;
}

.card {
  width: 100%;
  max-width: 440px;
  background: var(--card);
  border: 1px solid var(--border);
  border-radius: var(--radius);
  box-shadow: var(--shadow);
  padding: 32px 32px 28px;
}

.card-error { border-top: 4px solid var(--danger); }

.brand {
  display: flex;
  align-items: center;
  gap: 10px;
  margin-bottom: 28px;
  color: var(--primary);
}

.brand-mark { flex: none; fill: currentColor; }
.brand-mark-check { fill: none; stroke: var(--card); stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.brand-name { font-weight: 650; font-size: 15px; letter-spacing: 0.01em; color: var(--text); }

.title {
  margin: 0 0 6px;
  font-size: 24px;
  line-height: 1.25;
  font-weight: 700;
  letter-spacing: -0.01em;
}

.subtitle { margin: 0 0 24px; color: var(--muted); }
.app-name { color: var(--text); font-weight: 650; overflow-wrap: anywhere; }

.alert {
  margin: 0 0 20px;
  padding: 12px 14px;
  border: 1px solid var(--danger-border);
  border-radius: 10px;
  background: var(--danger-bg);
  color: var(--danger);
  font-size: 15px;
}

.form { margin: 0; }
.field { margin-bottom: 18px; }

.label {
  display: block;
  margin-bottom: 6px;
  font-size: 14px;
  font-weight: 600;
}

.input {
  display: block;
  width: 100%;
  padding: 11px 12px;
  font: inherit;
  color: var(--text);
  background: var(--card);
  border: 1px solid var(--border);
  border-radius: 10px;
  transition: border-color 0.15s, box-shadow 0.15s;
}

.input:hover { border-color: var(--muted); }
.input:focus { outline: none; border-color: var(--primary); box-shadow: 0 0 0 3px color-mix(in srgb, var(--focus) 45%, transparent); }
.input[aria-invalid="true"] { border-color: var(--danger); }

.button {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  min-height: 44px;
  padding: 10px 20px;
  font: inherit;
  font-weight: 600;
  border-radius: 10px;
  border: 1px solid transparent;
  cursor: pointer;
  transition: background-color 0.15s, border-color 0.15s, box-shadow 0.15s;
}

.button:focus { outline: none; }
.button:focus-visible { box-shadow: 0 0 0 3px var(--card), 0 0 0 6px var(--focus); }

.button-primary { background: var(--primary); color: var(--primary-text); }
.button-primary:hover { background: var(--primary-hover); }

.button-secondary { background: transparent; color: var(--text); border-color: var(--border); }
.button-secondary:hover { border-color: var(--muted); background: var(--code-bg); }

.button-block { width: 100%; margin-top: 6px; }

.actions { display: flex; gap: 12px; margin-top: 8px; }
.actions .button { flex: 1; }

.scope-list {
  list-style: none;
  margin: 0 0 20px;
  padding: 0;
  border: 1px solid var(--border);
  border-radius: 12px;
}

.scope {
  position: relative;
  padding: 12px 14px 12px 44px;
  border-top: 1px solid var(--border);
}

.scope:first-child { border-top: none; }

.scope::before {
  content: "";
  position: absolute;
  left: 16px;
  top: 17px;
  width: 12px;
  height: 7px;
  border-left: 2px solid var(--check);
  border-bottom: 2px solid var(--check);
  transform: rotate(-45deg);
}

.scope-text { display: block; font-weight: 500; }
.scope-detail { display: block; margin-top: 2px; font-size: 14px; color: var(--muted); }

.scope-code {
  display: inline-block;
  margin-top: 4px;
  padding: 1px 6px;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px;
  color: var(--muted);
  background: var(--code-bg);
  border-radius: 6px;
  overflow-wrap: anywhere;
}

.account {
  margin: 0 0 20px;
  padding: 12px 14px;
  background: var(--code-bg);
  border-radius: 10px;
  font-size: 14px;
}

.account-row { display: flex; justify-content: space-between; gap: 12px; }
.account-row + .account-row { margin-top: 4px; }
.account dt { color: var(--muted); }
.account dd { margin: 0; font-weight: 600; text-align: right; overflow-wrap: anywhere; }

.note { margin: 20px 0 0; font-size: 13px; color: var(--muted); }

.status-icon {
  display: flex;
  align-items: center;
  justify-content: center;
  width: 44px;
  height: 44px;
  margin-bottom: 16px;
  border-radius: 50%;
  background: var(--danger-bg);
  border: 1px solid var(--danger-border);
  color: var(--danger);
  font-weight: 700;
  font-size: 22px;
}

.message { margin: 8px 0 0; overflow-wrap: anywhere; }


.link { color: var(--primary); text-decoration: underline; text-underline-offset: 2px; }
.link:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 2px; }
a.button { text-decoration: none; }

.button-provider { background: var(--card); color: var(--text); border-color: var(--border); margin-top: 0; }
.button-provider:hover { border-color: var(--primary); background: var(--code-bg); }
.providers { display: flex; flex-direction: column; gap: 10px; }

.divider { display: flex; align-items: center; gap: 12px; margin: 22px 0; font-size: 13px; color: var(--muted); }
.divider::before, .divider::after { content: ""; flex: 1; border-top: 1px solid var(--border); }

.label-hint { font-weight: 400; color: var(--muted); }

.check { display: flex; align-items: flex-start; gap: 10px; margin: 0 0 18px; font-size: 14px; }
.check-input, .patient-input { flex: none; width: 18px; height: 18px; margin: 2px 0 0; accent-color: var(--primary); }
.check-input:focus-visible, .patient-input:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.check-label { cursor: pointer; }

.results { margin-top: 24px; }
.patients { margin: 0 0 16px; padding: 0; border: none; }
.patient { display: flex; align-items: flex-start; gap: 10px; padding: 10px 12px; border: 1px solid var(--border); border-radius: 10px; margin-top: 8px; }
.patient:has(.patient-input:checked) { border-color: var(--primary); background: var(--code-bg); }
.patient-label { cursor: pointer; flex: 1; }
.patient-name { display: block; font-weight: 600; }
.patient-detail { display: block; font-size: 13px; color: var(--muted); overflow-wrap: anywhere; }
.results-empty { margin-top: 20px; }

.notice { margin: 0 0 20px; padding: 12px 14px; border: 1px solid var(--border); border-radius: 10px; background: var(--code-bg); font-size: 15px; }

.app-list { list-style: none; margin: 0; padding: 0; }
.app { padding: 16px 0; border-top: 1px solid var(--border); }
.app:first-child { border-top: none; padding-top: 0; }
.app-title { margin: 0 0 6px; font-size: 18px; }
.app-detail { margin: 8px 0 6px; font-size: 14px; color: var(--muted); }
.scope-list-compact { margin-bottom: 12px; }
.token-list { margin: 0 0 12px; padding-left: 20px; font-size: 14px; }

.button-danger { background: transparent; color: var(--danger); border-color: var(--danger-border); }
.button-danger:hover { background: var(--danger-bg); }

.page-footer { margin: 20px 0 0; font-size: 12px; color: var(--muted); }

@media (max-width: 480px) {
  .page { justify-content: flex-start; padding: 0; }
  .card { max-width: none; min-height: 100vh; border: none; border-radius: 0; box-shadow: none; padding: 24px 20px; }
  .page-footer { display: none; }
  .actions { flex-direction: column-reverse; }
}

@media (prefers-reduced-motion: reduce) {
  * { transition: none !important; }
}
`;
