/**
 * The monitoring page at `/`: one HTML document, one stylesheet and one script (page-script.ts), served from
 * memory with no build step. The assets hold no data, so they are served without a token; the data comes from
 * the API, which checks it. A strict Content-Security-Policy allows only these same-origin files.
 */
import type { ServerResponse } from 'node:http';
import { PAGE_SCRIPT } from './page-script.js';
import type { Handler } from './router.js';

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tbase monitor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>tbase</h1>
  <span id="db" class="dim"></span>
</header>
<section id="status" aria-live="polite">
  <div class="stat"><span class="label">keys</span><span id="stat-keys">–</span></div>
  <div class="stat"><span class="label">cache</span><span id="stat-cache" class="badge">–</span></div>
  <div class="stat"><span class="label">hits</span><span id="stat-hits">–</span></div>
  <div class="stat"><span class="label">misses</span><span id="stat-misses">–</span></div>
  <div class="stat"><span class="label">pending invalidations</span><span id="stat-pending">–</span></div>
  <div class="stat"><span class="label">database size</span><span id="stat-size">–</span></div>
  <span id="updated" class="dim"></span>
</section>
<form id="token-form" hidden>
  <label>Bearer token <input id="token" type="password" autocomplete="off" required></label>
  <button type="submit">Use token</button>
</form>
<form id="filter">
  <input id="prefix" type="search" placeholder="key prefix" aria-label="key prefix">
  <button id="refresh" type="submit">Refresh</button>
  <span id="list-note" class="dim"></span>
</form>
<p id="error" role="alert" hidden></p>
<table>
  <thead><tr><th>key</th><th>value</th><th>expires in</th></tr></thead>
  <tbody id="entries"></tbody>
</table>
<p id="empty" class="dim" hidden>No keys.</p>
</body>
</html>
`;

const CSS = `:root { color-scheme: light dark; --accent: #2563eb; --up: #15803d; --down: #b91c1c; --off: #6b7280; }
[hidden] { display: none !important; } /* the flex rules below would otherwise show hidden forms */
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem 1.5rem; }
header { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
.dim { color: #6b7280; }
#status { display: flex; flex-wrap: wrap; gap: .75rem 1.5rem; align-items: center; padding: .75rem 1rem;
  border: 1px solid #d1d5db; border-radius: .5rem; margin-bottom: 1rem; }
.stat { display: flex; flex-direction: column; }
.stat .label { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #6b7280; }
.stat span:last-child { font-size: 1.2rem; font-variant-numeric: tabular-nums; }
.badge { font-weight: 600; }
.badge.up { color: var(--up); } .badge.down { color: var(--down); } .badge.off, .badge.unknown { color: var(--off); }
form { display: flex; gap: .5rem; align-items: center; margin-bottom: .75rem; }
input { font: inherit; padding: .3rem .5rem; }
button { font: inherit; padding: .25rem .7rem; cursor: pointer; }
#refresh.attention { outline: 2px solid var(--accent); }
#error { color: var(--down); }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th:nth-child(1) { width: 35%; } th:nth-child(3) { width: 8rem; }
td.key, code { font-family: ui-monospace, monospace; word-break: break-all; }
td.value code { display: block; margin-top: .3rem; white-space: pre-wrap; }
code.binary { color: #92400e; }
`;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function asset(type: string, body: string): Handler {
  const bytes = Buffer.from(body, 'utf8');
  return async ({ res }) => send(res, type, bytes);
}

function send(res: ServerResponse, type: string, bytes: Buffer): void {
  res.writeHead(200, { 'content-type': type, 'content-length': bytes.length, ...SECURITY_HEADERS });
  res.end(bytes);
}

export const page = {
  html: asset('text/html; charset=utf-8', HTML),
  css: asset('text/css; charset=utf-8', CSS),
  script: asset('text/javascript; charset=utf-8', PAGE_SCRIPT),
};
