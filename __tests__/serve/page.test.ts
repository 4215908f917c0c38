/**
 * The monitoring page in a real headless browser (Debian chromium driven by playwright-core): load, values
 * hidden until clicked, live counts, the token prompt; the live list (CLI writes from another process add,
 * highlight and remove rows without a reload, across a server restart, and a reload when the history is gone);
 * the hit ratio and each memcached server's state; the phone layout, and screenshots of both layouts.
 * Skipped with a notice only on a developer machine without chromium; in CI (CI set) they always run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runTbase } from '../helpers/tbase.js';
import { freePort } from '../helpers/memcached.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess, type StartOptions } from './server-process.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !process.env.CI) {
  console.warn(`tbase serve page tests SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); CI runs them`);
}
const describeInBrowser = haveChromium || process.env.CI ? describe : describe.skip;

const TOKEN = 'page-test-token-0123456789';
const WIDE = { width: 1100, height: 640 };
const PHONE = { width: 375, height: 667 };
const running: ServerProcess[] = [];
let browser: Browser;

interface OpenOptions {
  viewport?: { width: number; height: number };
  /** Console errors that the test provokes on purpose (a failed connection while the server is down). */
  expected?: RegExp;
}

/** A fresh page that fails the test on any script error or console error (a CSP violation, say). */
async function openPage(url: string, { viewport = WIDE, expected }: OpenOptions = {}): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A 401 before the token is entered is expected and logged by the browser itself.
    if (message.type() !== 'error' || /status of 401/.test(message.text()) || expected?.test(message.text())) return;
    problems.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/** Starts `tbase serve` for one test (stopped after the file, if the test did not). */
async function serve(options: StartOptions = {}): Promise<ServerProcess> {
  const server = await startServer(options);
  running.push(server);
  return server;
}

/** Where screenshots go: TBASE_SCREENSHOT_DIR to keep them for a look, else a temp folder removed after the file. */
function screenshotPath(name: string): string {
  return join(process.env.TBASE_SCREENSHOT_DIR ?? tempDir(), name);
}

/** The page's hit ratio for these counters. */
function ratioText(hits: number | null, misses: number | null): string {
  if (hits === null || misses === null) return '?';
  return hits + misses === 0 ? '–' : `${((100 * hits) / (hits + misses)).toFixed(1)}%`;
}

/** Polls `read` until it deep-equals `expected` (the page updates asynchronously); fails with the last value. */
async function until<T>(read: () => Promise<T>, timeoutMs: number, expected: T): Promise<void>;
async function until<T>(read: () => Promise<T>, expected: T): Promise<void>;
async function until<T>(read: () => Promise<T>, ...rest: [number, T] | [T]): Promise<void> {
  const [timeoutMs, expected] = rest.length === 2 ? rest : [5000, rest[0]];
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!equal(last, expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  expect(last).toEqual(expected);
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The keys in the table, in page order, each with the live feed's mark (added, changed or none). */
function rowsOf(page: Page): Promise<string[]> {
  return page.locator('tr.entry').evaluateAll((rows) =>
    rows.map((row) => {
      const mark = ['added', 'changed'].filter((name) => row.classList.contains(name));
      return [(row as HTMLElement).dataset.key, ...mark].join(' ');
    }),
  );
}

/** Width and height from a PNG's IHDR chunk (bytes 16–23), after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Decodes a PNG in the browser: its size, how many colours, and the share of pixels unlike the top-left one. */
async function pixelsOf(png: Buffer): Promise<{ width: number; height: number; colours: number; inked: number }> {
  const blank = await browser.newPage();
  try {
    return await blank.evaluate(async (source) => {
      const image = new Image();
      image.src = source;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext('2d')!;
      context.drawImage(image, 0, 0);
      const { data } = context.getImageData(0, 0, image.width, image.height);
      const colours = new Set<number>();
      let inked = 0;
      for (let i = 0; i < data.length; i += 4) {
        colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
        if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) inked++;
      }
      return { width: image.width, height: image.height, colours: colours.size, inked: inked / (data.length / 4) };
    }, `data:image/png;base64,${png.toString('base64')}`);
  } finally {
    await blank.close();
  }
}

describeInBrowser('tbase serve: monitoring page in chromium', () => {
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopAll(running);
    removeTempDirs();
  }, 30_000);

  test('lists keys with values hidden, reveals one on click, shows live counts, sees a CLI write without a refresh', async () => {
    const server = await serve();
    const cli = (...args: string[]) => runTbase(args, { env: server.env });
    expect((await cli('set', 'greeting', 'hello from tbase')).code).toBe(0);
    expect((await cli('set', 'secret:api-key', 'shh-do-not-show', '--ttl', '2h')).code).toBe(0);
    expect((await cli('set', 'ключ <b>not html</b>', 'unicode value')).code).toBe(0);
    await fetch(`${server.url}/keys/binary`, { method: 'PUT', body: new Uint8Array([0xff, 0xfe, 0x00, 0x41]) });

    const { page, problems } = await openPage(server.url);
    const rows = page.locator('tr.entry');
    await until(() => rows.count(), 4);
    expect(await page.locator('td.key').allTextContents()).toEqual(['binary', 'greeting', 'secret:api-key', 'ключ <b>not html</b>']);
    // Values are not on the page, nor in anything it fetched so far: only keys were listed.
    expect(await page.content()).not.toContain('shh-do-not-show');
    expect(await page.locator('b').count()).toBe(0); // a key is text, never markup

    await until(() => page.locator('#stat-keys').textContent(), '4');
    expect(await page.locator('#stat-cache').textContent()).toBe('up');
    expect(await page.locator('#stat-cache').getAttribute('class')).toBe('badge up');

    const secret = page.locator('tr.entry[data-key="secret:api-key"]');
    await secret.locator('button.reveal').click();
    await until(() => secret.locator('.shown').textContent(), 'shh-do-not-show');
    expect(await secret.locator('td.ttl').textContent()).toMatch(/^(2h|1h59m)$/);
    await page.locator('tr.entry[data-key="binary"] button.reveal').click();
    await until(() => page.locator('tr.entry[data-key="binary"] .shown').textContent(), '(binary, base64) //4AQQ==');
    await page.screenshot({ path: screenshotPath('serve-page.png'), fullPage: true });
    await secret.locator('button.reveal').click(); // hide again
    expect(await secret.locator('.shown').count()).toBe(0);

    // A key added by another process: the live feed puts its row on the page, no refresh.
    await until(() => page.locator('#live').textContent(), 'live');
    expect((await cli('set', 'added:by-cli', 'fresh')).code).toBe(0);
    await until(() => rows.count(), 5);
    await until(() => page.locator('#stat-keys').textContent(), 10_000, '5');
    const added = page.locator('tr.entry[data-key="added:by-cli"]');
    await added.locator('button.reveal').click();
    await until(() => added.locator('.shown').textContent(), 'fresh');

    expect((await cli('delete', 'greeting')).code).toBe(0);
    await until(() => rows.count(), 4);
    await page.reload();
    await until(() => page.locator('td.key').allTextContents(), [
      'added:by-cli', 'binary', 'secret:api-key', 'ключ <b>not html</b>',
    ]);
    // Filter by prefix.
    await page.locator('#prefix').fill('secret:');
    await page.locator('#refresh').click();
    await until(() => page.locator('td.key').allTextContents(), ['secret:api-key']);
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);

  test('live: a new key appears in key order, a change highlights its row (and updates a shown value), a delete or expiry removes it', async () => {
    const server = await serve();
    const cli = async (...args: string[]) => {
      const run = await runTbase(args, { env: server.env });
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run;
    };
    await cli('set', 'b', 'one');
    await cli('set', 'd', 'four');
    const { page, problems } = await openPage(server.url);
    await until(() => rowsOf(page), ['b', 'd']);
    await until(() => page.locator('#live').textContent(), 'live');

    await cli('set', 'c', 'first');
    await until(() => rowsOf(page), ['b', 'c added', 'd']);
    // Code point order, as the store keeps it (JavaScript's < would put U+1F600 before U+FF01).
    await cli('set', 'z\u{1F600}', 'astral');
    await cli('set', 'z\uFF01', 'fullwidth');
    const listed = JSON.parse((await cli('--json', 'list', '--keys-only')).out) as { entries: string[] };
    expect(listed.entries).toEqual(['b', 'c', 'd', 'z\uFF01', 'z\u{1F600}']);
    await until(() => rowsOf(page), ['b', 'c added', 'd', 'z\uFF01 added', 'z\u{1F600} added']);
    expect(await page.locator('#list-note').textContent()).toBe('5 keys listed');

    // A change to a shown value: the new value replaces it, and the row is marked changed.
    const c = page.locator('tr.entry[data-key="c"]');
    await c.locator('button.reveal').click();
    await until(() => c.locator('.shown').textContent(), 'first');
    await cli('set', 'c', 'second', '--ttl', '1h');
    await until(() => c.locator('.shown').textContent(), 'second');
    expect(await c.locator('td.ttl').textContent()).toMatch(/^(1h|59m\d*s?)$/);
    expect(await rowsOf(page)).toEqual(['b', 'c changed', 'd', 'z\uFF01 added', 'z\u{1F600} added']);
    // A change to a hidden value is marked, and the value stays off the page.
    await cli('set', 'b', 'b-second-secret');
    await until(() => rowsOf(page), ['b changed', 'c changed', 'd', 'z\uFF01 added', 'z\u{1F600} added']);
    expect(await page.locator('tr.entry[data-key="b"] .shown').count()).toBe(0);
    expect(await page.content()).not.toContain('b-second-secret');
    // The highlight fades: an animation on the class, which stays.
    expect(await c.evaluate((row) => getComputedStyle(row).animationName)).toBe('changed');

    await cli('delete', 'c');
    await until(() => rowsOf(page), ['b changed', 'd', 'z\uFF01 added', 'z\u{1F600} added']);
    await cli('delete', '--prefix', 'z');
    await until(() => rowsOf(page), ['b changed', 'd']);
    await cli('set', 'e', 'short-lived', '--ttl', '1');
    await until(() => rowsOf(page), ['b changed', 'd', 'e added']);
    await until(() => rowsOf(page), 10_000, ['b changed', 'd']); // its expiry comes through the feed
    await cli('delete', 'b');
    await cli('delete', 'd');
    await until(() => rowsOf(page), []);
    expect(await page.locator('#empty').isVisible()).toBe(true);
    await until(() => page.locator('#stat-keys').textContent(), 10_000, '0');

    // The feed follows the prefix the list shows.
    await page.locator('#prefix').fill('p:');
    await page.locator('#refresh').click();
    await until(() => page.locator('#live').textContent(), 'live');
    await cli('set', 'q', 'not under p:');
    await cli('set', 'p:1', 'under p:');
    await until(() => rowsOf(page), ['p:1 added']);
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);

  test('live: resumes after the server restarts (Last-Event-ID), and reloads the list when the history is gone or the database was replaced', async () => {
    const server = await serve();
    const cli = async (env: Record<string, string>, ...args: string[]) =>
      expect((await runTbase(args, { env: { ...server.env, ...env } })).code).toBe(0);
    await cli({}, 'set', 'k:1', 'one');
    await cli({}, 'set', 'k:2', 'two');
    // While the server is down the page's requests fail, and a 410 or 400 is a failed load: the browser logs them.
    const { page, problems } = await openPage(server.url, { expected: /ERR_CONNECTION_REFUSED|status of 4(10|00)/ });
    await until(() => page.locator('#live').textContent(), 'live');
    await cli({}, 'set', 'k:3', 'three');
    await until(() => rowsOf(page), ['k:1', 'k:2', 'k:3 added']);

    // Down: the feed waits; meanwhile one key is added and one deleted. Back on the same port, the feed resumes
    // after its last event: the missed changes arrive as events (marked), with nothing repeated or reloaded.
    expect(await server.stop()).toBe(0);
    await until(() => page.locator('#live').textContent(), 'reconnecting');
    await cli({}, 'set', 'k:4', 'four');
    await cli({}, 'delete', 'k:1');
    const again = await serve({ dbPath: server.dbPath, args: ['--port', String(server.port)] });
    await until(() => rowsOf(page), 15_000, ['k:2', 'k:3 added', 'k:4 added']);
    await until(() => page.locator('#live').textContent(), 'live');
    await until(() => page.locator('#error').isHidden(), true); // "cannot reach the server" went with the next poll

    // Down again, and the change log keeps only the last revision: the changes the page missed are gone (410),
    // so it loads the list afresh (no marks) and follows from there.
    expect(await again.stop()).toBe(0);
    await until(() => page.locator('#live').textContent(), 'reconnecting');
    await cli({ TBASE_HISTORY_REVISIONS: '1' }, 'set', 'k:5', 'five');
    await cli({ TBASE_HISTORY_REVISIONS: '1' }, 'delete', 'k:2');
    await cli({ TBASE_HISTORY_REVISIONS: '1' }, 'set', 'k:6', 'six');
    const third = await serve({ dbPath: server.dbPath, args: ['--port', String(server.port)] });
    await until(() => rowsOf(page), 15_000, ['k:3', 'k:4', 'k:5', 'k:6']);
    await until(() => page.locator('#live').textContent(), 'live');
    await cli({}, 'set', 'k:7', 'seven');
    await until(() => rowsOf(page), ['k:3', 'k:4', 'k:5', 'k:6', 'k:7 added']);

    // Back with another database on the same address (a replaced file): the page's last id is past its revision
    // (400), so again the list is loaded afresh.
    expect(await third.stop()).toBe(0);
    await until(() => page.locator('#live').textContent(), 'reconnecting');
    const other = tempDbPath();
    expect((await runTbase(['set', 'other:1', 'x'], { env: { ...server.env, TBASE_DB: other } })).code).toBe(0);
    await serve({ dbPath: other, args: ['--port', String(server.port)] });
    await until(() => rowsOf(page), 15_000, ['other:1']);
    await until(() => page.locator('#live').textContent(), 'live');
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);

  test('the hit ratio is hits / (hits + misses) of the database, as `tbase stats` counts them; a server up', async () => {
    const server = await serve();
    const cli = (...args: string[]) => runTbase(args, { env: server.env });
    expect((await cli('set', 'counted', 'value')).code).toBe(0);
    for (let i = 0; i < 3; i++) expect((await cli('get', 'counted')).code).toBe(0);
    expect((await cli('get', 'missing')).code).toBe(1);
    const stats = JSON.parse((await cli('--json', 'stats')).out) as { hits: number; misses: number };
    expect(stats.hits).toBeGreaterThan(0);
    expect(stats.misses).toBeGreaterThan(0);
    const { page, problems } = await openPage(server.url);
    // The page reads no value here, so the server adds no hits or misses of its own.
    await until(() => page.locator('#stat-hits').textContent(), String(stats.hits));
    expect(await page.locator('#stat-misses').textContent()).toBe(String(stats.misses));
    expect(await page.locator('#stat-ratio').textContent()).toBe(ratioText(stats.hits, stats.misses));
    expect(await page.locator('#servers li').evaluateAll((items) => items.map((item) => item.textContent))).toEqual([`${testServers()}up`]);
    expect(await page.locator(`#servers li[data-server="${testServers()}"] .badge`).getAttribute('class')).toBe('badge up');
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);

  test('each memcached server shows its own state: a dead one is down while the live one is up', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const server = await serve({ env: { TBASE_SERVERS: `${testServers()},${dead}` } });
    expect((await runTbase(['set', 'k', 'v'], { env: server.env })).code).toBe(0);
    const { page, problems } = await openPage(server.url);
    const states = () =>
      page.locator('#servers li').evaluateAll((items) =>
        items.map((item) => [(item as HTMLElement).dataset.server, item.querySelector('.badge')!.className]),
      );
    const expected = [[testServers(), 'badge up'], [dead, 'badge down']].sort(([a], [b]) => (a! < b! ? -1 : 1)); // the pool's order
    await until(() => states(), 10_000, expected);
    expect(await page.locator('#stat-cache').textContent()).toBe('down');
    // The ratio needs both counters: '?' when memcached could not say (one of them lives on the dead server).
    const { hits, misses } = (await (await fetch(`${server.url}/health`)).json()) as { hits: number | null; misses: number | null };
    await until(() => page.locator('#stat-ratio').textContent(), ratioText(hits, misses));
    await page.screenshot({ path: screenshotPath('serve-page-dead-server.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);

  test('wide and phone layouts: no horizontal scroll on a phone, rows as cards, screenshots of both', async () => {
    const server = await serve();
    const cli = (...args: string[]) => runTbase(args, { env: server.env });
    const long = `config/${'service-name-without-any-spaces-'.repeat(4)}end`;
    expect((await cli('set', long, 'v'.repeat(300))).code).toBe(0);
    expect((await cli('set', 'greeting', 'hello from tbase', '--ttl', '2h')).code).toBe(0);
    expect((await cli('set', 'session:42', '{"user":"ada","roles":["admin"]}')).code).toBe(0);
    for (let i = 0; i < 5; i++) expect((await cli('get', 'greeting')).code).toBe(0);
    const shots: Record<string, Buffer> = {};
    for (const [name, viewport] of [['wide', WIDE], ['phone', PHONE]] as const) {
      const { page, problems } = await openPage(server.url, { viewport });
      await until(() => page.locator('tr.entry').count(), 3);
      await until(() => page.locator('#live').textContent(), 'live');
      await until(() => page.locator('#servers li').count(), 1);
      for (const key of [long, 'greeting']) {
        const row = page.locator('tr.entry').filter({ has: page.locator('td.key', { hasText: key }) });
        await row.locator('button.reveal').click();
        await row.locator('.shown').waitFor();
      }
      expect((await cli('set', 'session:42', '{"user":"ada","roles":["admin","ops"]}')).code).toBe(0);
      await until(() => rowsOf(page), [long, 'greeting', 'session:42 changed']);
      const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(overflow.scroll).toBeLessThanOrEqual(overflow.client);
      // Every control lies inside the viewport.
      for (const selector of ['#prefix', '#refresh', 'tr.entry button.reveal >> nth=0']) {
        const box = (await page.locator(selector).boundingBox())!;
        expect({ selector, right: box.x + box.width <= viewport.width }).toEqual({ selector, right: true });
      }
      const key = (await page.locator('tr.entry >> nth=0 >> td.key').boundingBox())!;
      const value = (await page.locator('tr.entry >> nth=0 >> td.value').boundingBox())!;
      if (name === 'phone') {
        // A card: the key above its value, both the row's whole width; the header row is hidden.
        expect(value.y).toBeGreaterThanOrEqual(key.y + key.height - 1);
        expect(Math.abs(value.width - key.width)).toBeLessThan(2);
        expect(await page.locator('thead').boundingBox()).toMatchObject({ width: 1, height: 1 });
        expect(await page.locator('tr.entry[data-key="greeting"] td.ttl').textContent()).toMatch(/^(2h|1h59m)$/);
      } else {
        expect(value.x).toBeGreaterThanOrEqual(key.x + key.width - 1); // side by side
      }
      await page.evaluate(() => window.scrollTo(0, 0)); // the clicks scrolled the rows into view
      const path = screenshotPath(`serve-page-${name}.png`);
      await page.screenshot({ path });
      shots[name] = readFileSync(path);
      expect(pngSize(shots[name]!)).toEqual(viewport);
      // The whole page too (for a person to look at): as wide as the viewport, so nothing sticks out sideways.
      const whole = await page.screenshot({ path: screenshotPath(`serve-page-${name}-full.png`), fullPage: true });
      expect(pngSize(whole).width).toBe(viewport.width);
      expect(pngSize(whole).height).toBeGreaterThanOrEqual(viewport.height);
      expect(problems).toEqual([]);
      await page.close();
    }
    // Not blank: far larger than a screenshot of an empty page, many colours, a fair share of pixels inked.
    const empty = await browser.newPage({ viewport: PHONE });
    const blankSize = (await empty.screenshot()).length;
    await empty.close();
    for (const [name, png] of Object.entries(shots)) {
      const pixels = await pixelsOf(png);
      expect({ name, width: pixels.width, height: pixels.height }).toEqual({ name, ...(name === 'wide' ? WIDE : PHONE) });
      expect({ name, bigger: png.length > 5 * blankSize, colours: pixels.colours > 50 }).toEqual({ name, bigger: true, colours: true });
      expect(pixels.inked).toBeGreaterThan(0.02);
      expect(pixels.inked).toBeLessThan(0.9);
    }
  }, 120_000);

  test('asks for the bearer token when the server requires one', async () => {
    const server = await serve({ env: { TBASE_SERVE_TOKEN: TOKEN } });
    expect((await runTbase(['set', 'guarded', 'value'], { env: server.env })).code).toBe(0);
    const { page, problems } = await openPage(server.url);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    expect(await page.locator('tr.entry').count()).toBe(0);
    await page.locator('#token').fill(TOKEN);
    await page.locator('#token-form button').click();
    await until(() => page.locator('td.key').allTextContents(), ['guarded']);
    await until(() => page.locator('#stat-keys').textContent(), '1');
    expect(await page.locator('#token-form').isHidden()).toBe(true);
    // The live feed sends the token too (fetch with the Authorization header: an EventSource could not).
    await until(() => page.locator('#live').textContent(), 'live');
    expect((await runTbase(['set', 'guarded:2', 'value'], { env: server.env })).code).toBe(0);
    await until(() => rowsOf(page), ['guarded', 'guarded:2 added']);
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);
});
