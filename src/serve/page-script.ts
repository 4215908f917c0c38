/**
 * The monitoring page's script, served as /app.js: plain browser JavaScript, no build step. It lists keys only
 * (values never leave the server until one is clicked), polls /health for live counts and cache state, and
 * asks for the bearer token when the API answers 401 (kept in sessionStorage for the tab's life).
 * Everything from the server is put on the page with textContent, never as HTML.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(() => {
  const LIST_LIMIT = 1000;
  const POLL_MS = 2000;
  const SHOWN_CHARS = 4000;
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem('tbase-token') || '';
  let listed = null; // keys in the table after the last refresh (null: not loaded)

  class AuthNeeded extends Error {}

  async function api(path) {
    const headers = token ? { authorization: 'Bearer ' + token } : {};
    const res = await fetch(path, { headers, cache: 'no-store' });
    if (res.status === 401) {
      $('token-form').hidden = false;
      throw new AuthNeeded('this server needs a bearer token');
    }
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || res.statusText);
    return body;
  }

  /** One line, unambiguous: control characters as escapes, like the CLI's plain output. */
  function visible(text) {
    const named = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
    return text.replace(/[\\\u0000-\u001f\u007f]/g, (ch) => named[ch] || '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
  }

  function bytes(n) {
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let value = n / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return value.toFixed(value < 10 ? 1 : 0) + ' ' + units[unit];
  }

  function duration(seconds) {
    if (seconds === null) return 'never';
    if (seconds < 60) return seconds + 's';
    if (seconds < 3600) return Math.floor(seconds / 60) + 'm' + (seconds % 60 ? (seconds % 60) + 's' : '');
    if (seconds < 86400) return Math.floor(seconds / 3600) + 'h' + (Math.floor(seconds % 3600 / 60) ? Math.floor(seconds % 3600 / 60) + 'm' : '');
    return Math.floor(seconds / 86400) + 'd';
  }

  function showError(error) {
    $('error').hidden = !error;
    $('error').textContent = error ? String(error.message || error) : '';
  }

  async function pollHealth() {
    try {
      const health = await api('/health');
      $('stat-keys').textContent = String(health.keys);
      const cache = $('stat-cache');
      cache.textContent = health.cache;
      cache.className = 'badge ' + health.cache;
      $('stat-hits').textContent = health.hits === null ? '?' : String(health.hits);
      $('stat-misses').textContent = health.misses === null ? '?' : String(health.misses);
      $('stat-pending').textContent = String(health.pendingInvalidations);
      $('stat-size').textContent = bytes(health.dbBytes);
      $('db').textContent = health.database;
      $('status').dataset.state = health.status;
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      const stale = listed !== null && $('prefix').value === '' && listed < LIST_LIMIT && listed !== health.keys;
      $('refresh').classList.toggle('attention', stale);
      $('list-note').textContent = stale ? 'keys changed since the list was loaded: refresh' : noteFor(listed);
    } catch (error) {
      $('stat-cache').textContent = 'unreachable';
      $('stat-cache').className = 'badge down';
      if (!(error instanceof AuthNeeded)) showError(error);
    }
  }

  function noteFor(count) {
    if (count === null) return '';
    return count >= LIST_LIMIT ? 'showing the first ' + LIST_LIMIT + ' keys; narrow with a prefix' : count + (count === 1 ? ' key' : ' keys') + ' listed';
  }

  async function loadList() {
    const prefix = $('prefix').value;
    const body = await api('/keys?keys-only=1&limit=' + LIST_LIMIT + '&prefix=' + encodeURIComponent(prefix));
    const rows = document.createDocumentFragment();
    for (const key of body.entries) rows.appendChild(row(key));
    $('entries').replaceChildren(rows);
    $('empty').hidden = body.entries.length > 0;
    listed = body.entries.length;
    $('list-note').textContent = noteFor(listed);
    $('refresh').classList.remove('attention');
    showError(null);
  }

  function row(key) {
    const tr = document.createElement('tr');
    tr.className = 'entry';
    tr.dataset.key = key;
    const keyCell = document.createElement('td');
    keyCell.className = 'key';
    keyCell.textContent = visible(key);
    const valueCell = document.createElement('td');
    valueCell.className = 'value';
    const ttlCell = document.createElement('td');
    ttlCell.className = 'ttl';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'reveal';
    button.textContent = 'show value';
    button.setAttribute('aria-label', 'show the value of ' + key);
    button.addEventListener('click', () => toggle(key, valueCell, ttlCell, button));
    valueCell.appendChild(button);
    tr.append(keyCell, valueCell, ttlCell);
    return tr;
  }

  async function toggle(key, valueCell, ttlCell, button) {
    const shown = valueCell.querySelector('.shown');
    if (shown) {
      shown.remove();
      ttlCell.textContent = '';
      button.textContent = 'show value';
      return;
    }
    button.disabled = true;
    try {
      const body = await api('/keys/' + encodeURIComponent(key) + '?format=json');
      const out = document.createElement('code');
      out.className = 'shown' + (body.encoding === 'base64' ? ' binary' : '');
      const text = body.encoding === 'base64' ? '(binary, base64) ' + body.value : visible(body.value);
      out.textContent = text.length > SHOWN_CHARS ? text.slice(0, SHOWN_CHARS) + '… (' + text.length + ' characters)' : text;
      if (text === '') out.textContent = '(empty)';
      valueCell.appendChild(out);
      ttlCell.textContent = duration(body.ttl);
      button.textContent = 'hide';
    } catch (error) {
      if (!(error instanceof AuthNeeded)) showError(/not found/.test(error.message) ? new Error('gone since the list was loaded: ' + visible(key)) : error);
    } finally {
      button.disabled = false;
    }
  }

  $('filter').addEventListener('submit', (event) => {
    event.preventDefault();
    loadList().catch((error) => error instanceof AuthNeeded || showError(error));
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('tbase-token', token);
    $('token-form').hidden = true;
    $('token').value = '';
    loadList().then(pollHealth).catch((error) => error instanceof AuthNeeded || showError(error));
  });

  loadList().catch((error) => error instanceof AuthNeeded || showError(error));
  pollHealth();
  setInterval(pollHealth, POLL_MS);
})();
`;
