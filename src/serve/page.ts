/**
 * The monitoring page at `/`: one HTML document, one stylesheet and one script (page-script.ts), served from
 * memory with no build step; it works from a phone's width up (the media query at the end of the stylesheet). The
 * assets hold no data, so they are served without a token; the data comes from the API, which checks it. A strict
 * Content-Security-Policy allows only these same-origin files.
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
  <span id="live" class="badge off" title="live updates from the change feed">connecting</span>
  <span id="db" class="dim"></span>
</header>
<section id="status" aria-live="polite">
  <div class="stat"><span class="label">keys</span><span id="stat-keys">–</span></div>
  <div class="stat"><span class="label">cache</span><span id="stat-cache" class="badge">–</span></div>
  <div class="stat" title="hits / (hits + misses) of every process on this database"><span class="label">hit ratio</span><span id="stat-ratio">–</span></div>
  <div class="stat"><span class="label">hits</span><span id="stat-hits">–</span></div>
  <div class="stat"><span class="label">misses</span><span id="stat-misses">–</span></div>
  <div class="stat"><span class="label">pending invalidations</span><span id="stat-pending">–</span></div>
  <div class="stat"><span class="label">database size</span><span id="stat-size">–</span></div>
  <div class="stat" id="servers-stat"><span class="label">memcached servers</span><ul id="servers"></ul></div>
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
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; margin-bottom: .5rem; }
h1 { font-size: 1.4rem; margin: 0; }
#db { overflow-wrap: anywhere; }
.dim { color: #6b7280; }
#status { display: flex; flex-wrap: wrap; gap: .75rem 1.5rem; align-items: flex-start; padding: .75rem 1rem;
  border: 1px solid #d1d5db; border-radius: .5rem; margin-bottom: 1rem; }
#updated { align-self: center; }
.stat { display: flex; flex-direction: column; min-width: 0; }
.stat .label { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #6b7280; }
.stat > span:last-child { font-size: 1.2rem; font-variant-numeric: tabular-nums; }
#servers { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0 1rem; }
#servers li { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
#servers .badge { margin-left: .4rem; font-family: system-ui, sans-serif; }
.badge { font-weight: 600; }
.badge.up { color: var(--up); } .badge.down { color: var(--down); } .badge.off, .badge.unknown { color: var(--off); }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .75rem; }
input { font: inherit; padding: .3rem .5rem; min-width: 0; }
button { font: inherit; padding: .25rem .7rem; cursor: pointer; }
#error { color: var(--down); }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th:nth-child(1) { width: 35%; } th:nth-child(3) { width: 8rem; }
td.key, code { font-family: ui-monospace, monospace; word-break: break-all; }
td.value code { display: block; margin-top: .3rem; white-space: pre-wrap; }
code.binary { color: #92400e; }
/* A row the change feed added or changed: the class stays, its highlight fades (the script re-adds it per change). */
tr.added { animation: added 2.5s ease-out; }
tr.changed { animation: changed 2.5s ease-out; }
@keyframes added { from { background-color: rgba(34, 197, 94, .35); } to { background-color: transparent; } }
@keyframes changed { from { background-color: rgba(250, 204, 21, .55); } to { background-color: transparent; } }

/* A phone (~375 px): stats two by two, controls full width and finger-sized, each row a small card. */
@media (max-width: 40rem) {
  body { padding: .75rem; }
  #status { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .5rem 1rem; padding: .6rem .75rem; }
  #servers-stat, #updated { grid-column: 1 / -1; }
  .stat > span:last-child { font-size: 1.05rem; }
  #token-form label { display: flex; flex-direction: column; gap: .25rem; flex: 1 1 100%; }
  #prefix { flex: 1 1 8rem; }
  #list-note { flex-basis: 100%; }
  input, button { min-height: 2.5rem; }
  table, tbody, tr, td { display: block; width: auto; }
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
  tr.entry { padding: .5rem 0; border-bottom: 1px solid #e5e7eb; }
  td { border: 0; padding: .1rem 0; }
  td.key { font-weight: 600; }
  td.ttl:empty { display: none; }
  td.ttl::before { content: "expires in "; color: #6b7280; }
}
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
