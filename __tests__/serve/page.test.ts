/**
 * The monitoring page in a real headless browser (Debian chromium driven by playwright-core): load, values
 * hidden until clicked, live counts, a key added through the CLI seen after a refresh, and the token prompt.
 * Skipped with a notice only on a developer machine without chromium; in CI (CI set) they always run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from './server-process.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !process.env.CI) {
  console.warn(`tbase serve page tests SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); CI runs them`);
}
const describeInBrowser = haveChromium || process.env.CI ? describe : describe.skip;

const TOKEN = 'page-test-token-0123456789';
const running: ServerProcess[] = [];
let browser: Browser;

/** A fresh page that fails the test on any script error or console error (a CSP violation, say). */
async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A 401 before the token is entered is expected and logged by the browser itself.
    if (message.type() === 'error' && !/status of 401/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { page, problems };
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

  test('lists keys with values hidden, reveals one on click, shows live counts, sees a CLI write after refresh', async () => {
    const server = await startServer();
    running.push(server);
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
    const screenshotDir = process.env.TBASE_SCREENSHOT_DIR ?? tempDir();
    await page.screenshot({ path: join(screenshotDir, 'serve-page.png'), fullPage: true });
    await secret.locator('button.reveal').click(); // hide again
    expect(await secret.locator('.shown').count()).toBe(0);

    // A key added by another process: the live count notices, Refresh (and a reload) list it.
    expect((await cli('set', 'added:by-cli', 'fresh')).code).toBe(0);
    await until(() => page.locator('#stat-keys').textContent(), 10_000, '5');
    expect(await page.locator('#refresh').getAttribute('class')).toBe('attention');
    expect(await rows.count()).toBe(4);
    await page.locator('#refresh').click();
    await until(() => rows.count(), 5);
    const added = page.locator('tr.entry[data-key="added:by-cli"]');
    await added.locator('button.reveal').click();
    await until(() => added.locator('.shown').textContent(), 'fresh');

    expect((await cli('delete', 'greeting')).code).toBe(0);
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

  test('asks for the bearer token when the server requires one', async () => {
    const server = await startServer({ env: { TBASE_SERVE_TOKEN: TOKEN } });
    running.push(server);
    expect((await runTbase(['set', 'guarded', 'value'], { env: server.env })).code).toBe(0);
    const { page, problems } = await openPage(server.url);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    expect(await page.locator('tr.entry').count()).toBe(0);
    await page.locator('#token').fill(TOKEN);
    await page.locator('#token-form button').click();
    await until(() => page.locator('td.key').allTextContents(), ['guarded']);
    await until(() => page.locator('#stat-keys').textContent(), '1');
    expect(await page.locator('#token-form').isHidden()).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);
});
