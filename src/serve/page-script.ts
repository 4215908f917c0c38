/**
 * The monitoring page's script, served as /app.js: plain browser JavaScript, no build step. It lists keys only
 * (values never leave the server until one is clicked), keeps the list live from the change feed, polls /health
 * for counts, the hit ratio and each memcached server's state, and asks for the bearer token when the API
 * answers 401 (kept in sessionStorage for the tab's life). Everything from the server is put on the page with
 * textContent, never as HTML.
 *
 * The live list reads `GET /watch?keys-only=1` with fetch, not EventSource: an EventSource cannot send the
 * bearer token (it would have to travel in the URL or a cookie, which the API does not accept), and it does not
 * tell a 410 (history gone: reload the list) from a dropped connection. The reader does what an EventSource does
 * otherwise: it parses the SSE fields, keeps the last event id, honours `retry:` and reconnects with
 * `Last-Event-ID`, so nothing is lost or repeated across a drop.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(() => {
  const LIST_LIMIT = 1000;
  const POLL_MS = 2000;
  const SHOWN_CHARS = 4000;
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem('tbase-token') || '';
  const rowsByKey = new Map(); // key → its <tr>, for the rows on the page
  let loaded = false; // the list has been loaded once
  let truncated = false; // the last load stopped at LIST_LIMIT: keys after the last row are not on the page
  let generation = 0; // bumped by every list load, so an older load that finishes late changes nothing
  let feed = null; // the AbortController of the live feed

  class AuthNeeded extends Error {}

  function authHeaders() {
    return token ? { authorization: 'Bearer ' + token } : {};
  }

  function needToken() {
    $('token-form').hidden = false;
    return new AuthNeeded('this server needs a bearer token');
  }

  async function api(path) {
    let res;
    try {
      res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
    } catch (error) {
      throw new Error('cannot reach the server (' + error.message + ')');
    }
    if (res.status === 401) throw needToken();
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || res.statusText);
    return body;
  }

  /** One line, unambiguous: control characters as escapes, like the CLI's plain output. */
  function visible(text) {
    const named = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
    return text.replace(/[\\\u0000-\u001f\u007f]/g, (ch) => named[ch] || '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
  }

  /**
   * The store's key order: SQLite and PostgreSQL compare keys as UTF-8 bytes, which is code point order. (JavaScript's
   * < compares UTF-16 units, which puts U+10000 and above before U+E000…U+FFFF.)
   */
  function compareKeys(a, b) {
    for (let i = 0; i < a.length && i < b.length; ) {
      const x = a.codePointAt(i);
      const y = b.codePointAt(i);
      if (x !== y) return x - y;
      i += x > 0xffff ? 2 : 1;
    }
    return a.length - b.length;
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

  /** hits / (hits + misses) as a percentage; '?' when memcached did not say, '–' before any read. */
  function hitRatio(hits, misses) {
    if (hits === null || misses === null) return '?';
    if (hits + misses === 0) return '–';
    return (100 * hits / (hits + misses)).toFixed(1) + '%';
  }

  let errorFrom = null; // what put up the message on show: 'health' (the next good poll takes it down) or null

  function showError(error, from = null) {
    $('error').hidden = !error;
    $('error').textContent = error ? String(error.message || error) : '';
    errorFrom = error ? from : null;
  }

  function report(error, from = null) {
    if (!(error instanceof AuthNeeded)) showError(error, from);
  }

  function badge(element, text, state) {
    element.textContent = text;
    element.className = 'badge ' + state;
  }

  function showHealth(health) {
    $('stat-keys').textContent = String(health.keys);
    badge($('stat-cache'), health.cache, health.cache);
    $('stat-ratio').textContent = hitRatio(health.hits, health.misses);
    $('stat-hits').textContent = health.hits === null ? '?' : String(health.hits);
    $('stat-misses').textContent = health.misses === null ? '?' : String(health.misses);
    $('stat-pending').textContent = String(health.pendingInvalidations);
    $('stat-size').textContent = bytes(health.dbBytes);
    $('db').textContent = health.database;
    $('status').dataset.state = health.status;
    const servers = Object.entries(health.servers || {}).map(([server, state]) => {
      const item = document.createElement('li');
      item.dataset.server = server;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = server;
      const stateBadge = document.createElement('span');
      badge(stateBadge, state, state);
      item.append(name, stateBadge);
      return item;
    });
    if (servers.length === 0) {
      const none = document.createElement('li');
      none.className = 'dim';
      none.textContent = health.cache === 'off' ? 'none (cache off)' : 'none';
      servers.push(none);
    }
    $('servers').replaceChildren(...servers);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  async function pollHealth() {
    try {
      showHealth(await api('/health'));
      if (errorFrom === 'health') showError(null);
    } catch (error) {
      badge($('stat-cache'), 'unreachable', 'down');
      report(error, 'health');
    }
  }

  function showCount() {
    const count = rowsByKey.size;
    $('empty').hidden = !loaded || count > 0;
    if (!loaded) return void ($('list-note').textContent = '');
    $('list-note').textContent = truncated
      ? 'showing the first ' + LIST_LIMIT + ' keys; narrow with a prefix'
      : count + (count === 1 ? ' key' : ' keys') + ' listed';
  }

  /** The live feed's state, in the header: connecting, live, reconnecting, reloading or off. */
  function showFeed(state) {
    badge($('live'), state, state === 'live' ? 'up' : state === 'reconnecting' ? 'down' : 'off');
  }

  /** Loads the list for the prefix and starts its live feed; never fails (an error is shown on the page). */
  async function loadList() {
    const mine = ++generation;
    stopFeed();
    showFeed('connecting');
    const prefix = $('prefix').value;
    let health;
    let body;
    try {
      // The revision before the listing: the feed starts right after it, so nothing written in between is missed.
      // (A change the listing already holds comes again; applying a put or a delete twice changes nothing.)
      health = await api('/health');
      body = await api('/keys?keys-only=1&limit=' + LIST_LIMIT + '&prefix=' + encodeURIComponent(prefix));
    } catch (error) {
      if (mine === generation) showFeed('off');
      return report(error);
    }
    if (mine !== generation) return;
    showHealth(health);
    rowsByKey.clear();
    const rows = document.createDocumentFragment();
    for (const key of body.entries) rows.appendChild(row(key));
    $('entries').replaceChildren(rows);
    loaded = true;
    truncated = body.entries.length >= LIST_LIMIT;
    showCount();
    showError(null);
    startFeed(prefix, health.revision + 1);
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
    button.addEventListener('click', () => toggle(tr));
    valueCell.appendChild(button);
    tr.append(keyCell, valueCell, ttlCell);
    rowsByKey.set(key, tr);
    return tr;
  }

  async function toggle(tr) {
    const button = tr.querySelector('button.reveal');
    const shown = tr.querySelector('.shown');
    if (shown) {
      shown.remove();
      tr.querySelector('td.ttl').textContent = '';
      button.textContent = 'show value';
      return;
    }
    button.disabled = true;
    try {
      await reveal(tr, false);
    } catch (error) {
      report(/not found/.test(error.message) ? new Error('gone since the list was loaded: ' + visible(tr.dataset.key)) : error);
    } finally {
      button.disabled = false;
    }
  }

  /** Reads the row's value and shows it; with onlyIfShown (a change came in), only while it is still shown. */
  async function reveal(tr, onlyIfShown) {
    const body = await api('/keys/' + encodeURIComponent(tr.dataset.key) + '?format=json');
    const old = tr.querySelector('.shown');
    if (onlyIfShown && !old) return; // hidden meanwhile
    if (old && body.revision < Number(old.dataset.revision)) return; // overtaken by the answer for a later change
    const out = document.createElement('code');
    out.className = 'shown' + (body.encoding === 'base64' ? ' binary' : '');
    out.dataset.revision = String(body.revision);
    const text = body.encoding === 'base64' ? '(binary, base64) ' + body.value : visible(body.value);
    out.textContent = text.length > SHOWN_CHARS ? text.slice(0, SHOWN_CHARS) + '… (' + text.length + ' characters)' : text;
    if (text === '') out.textContent = '(empty)';
    if (old) old.replaceWith(out);
    else tr.querySelector('td.value').appendChild(out);
    tr.querySelector('td.ttl').textContent = duration(body.ttl);
    tr.querySelector('button.reveal').textContent = 'hide';
  }

  /** Marks a row added or changed: the class stays, its highlight fades (page.ts); removing it first restarts the fade. */
  function flash(tr, kind) {
    tr.classList.remove('added', 'changed');
    void tr.offsetWidth;
    tr.classList.add(kind);
  }

  /** Puts a new row in key order. */
  function insertRow(tr) {
    const rows = $('entries').children;
    let low = 0;
    let high = rows.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (compareKeys(rows[mid].dataset.key, tr.dataset.key) < 0) low = mid + 1;
      else high = mid;
    }
    $('entries').insertBefore(tr, rows[low] || null);
  }

  /** One change from the feed: put adds (in key order) or updates a row, delete and expire remove it. */
  function apply(type, change) {
    const tr = rowsByKey.get(change.key);
    if (type === 'put' && tr) {
      flash(tr, 'changed');
      if (tr.querySelector('.shown')) reveal(tr, true).catch((error) => /not found/.test(error.message) || report(error));
    } else if (type === 'put') {
      // Past a truncated list's last row the page shows nothing, so a key there stays off it.
      const last = $('entries').lastElementChild;
      if (truncated && last && compareKeys(change.key, last.dataset.key) > 0) return;
      const added = row(change.key);
      insertRow(added);
      flash(added, 'added');
    } else if ((type === 'delete' || type === 'expire') && tr) {
      tr.remove();
      rowsByKey.delete(change.key);
    }
    showCount();
  }

  function stopFeed() {
    if (feed) feed.abort();
    feed = null;
  }

  function pause(ms, signal) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  /**
   * Applies an event. A failure is a bug of this page: thrown on its own (so it shows in the console) while the
   * feed goes on, since reconnecting would only bring the same event again.
   */
  function applySafely(type, data) {
    try {
      apply(type, JSON.parse(data));
    } catch (error) {
      setTimeout(() => { throw error; });
    }
  }

  /**
   * Follows GET /watch from fromRevision until stopped: on a drop it waits the server's retry time and resumes
   * after the last event id. 410 (the changes since then are no longer kept) or 400 (the id is from another
   * database: the file was replaced) on a resume reloads the list, which starts a new feed.
   */
  function startFeed(prefix, fromRevision) {
    const controller = new AbortController();
    feed = controller;
    const { signal } = controller;
    const url = '/watch?keys-only=1&prefix=' + encodeURIComponent(prefix) + '&from-revision=' + fromRevision;
    let lastId = '';
    let retryMs = 1000;
    (async () => {
      while (!signal.aborted) {
        try {
          const headers = authHeaders();
          if (lastId !== '') headers['last-event-id'] = lastId;
          const res = await fetch(url, { headers, cache: 'no-store', signal });
          if (res.status === 401) {
            needToken();
            return showFeed('off');
          }
          if ((res.status === 410 || res.status === 400) && lastId !== '') {
            showFeed('reloading');
            return void loadList();
          }
          if (res.ok) {
            showFeed('live');
            await readEvents(res.body, {
              id: (id) => { lastId = id; },
              retry: (ms) => { retryMs = ms; },
              event: applySafely,
            });
          } else if (res.status !== 503) {
            // Refused for good (a first request is never 410 or 400 for an id): say so and stop.
            const body = await res.json().catch(() => ({}));
            showError(new Error('live updates stopped: ' + (body.message || res.statusText)));
            return showFeed('off');
          }
          // Otherwise the stream ended (the server shut down) or the server is busy (503): try again.
        } catch (error) {
          // The connection failed or broke: try again (or stop, when aborted).
        }
        if (signal.aborted) return;
        showFeed('reconnecting');
        await pause(retryMs, signal);
      }
    })();
  }

  /** Reads a Server-Sent Events body (the event-stream format) until it ends. */
  async function readEvents(body, on) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let data = [];
    let type = '';
    let id = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split('\n');
      buffer = lines.pop();
      for (const raw of lines) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line === '') {
          // End of a block: its id counts even without data (the opening block names the resume point).
          if (data.length > 0) on.event(type || 'message', data.join('\n'));
          if (id !== null) on.id(id);
          data = [];
          type = '';
          id = null;
          continue;
        }
        if (line.startsWith(':')) continue; // a comment (heartbeat)
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let text = colon === -1 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'data') data.push(text);
        else if (field === 'event') type = text;
        else if (field === 'id' && !text.includes('\u0000')) id = text;
        else if (field === 'retry' && /^\d+$/.test(text)) on.retry(Number(text));
      }
    }
  }

  $('filter').addEventListener('submit', (event) => {
    event.preventDefault();
    loadList();
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('tbase-token', token);
    $('token-form').hidden = true;
    $('token').value = '';
    loadList().then(pollHealth);
  });

  loadList();
  pollHealth();
  setInterval(pollHealth, POLL_MS);
})();
`;
