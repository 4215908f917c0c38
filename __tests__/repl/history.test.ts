import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { History, rememberedForm, searchBack } from '../../src/repl/history.js';
import { replSettings } from '../../src/repl/settings.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';

afterAll(removeTempDirs);

function open(path: string | null, extra: { maxLines?: number; redactValues?: boolean } = {}) {
  const problems: string[] = [];
  return History.load({ path, maxLines: extra.maxLines ?? 100, redactValues: extra.redactValues ?? false, onProblem: (m) => problems.push(m) }).then(
    (history) => ({ history, problems }),
  );
}

describe('history file', () => {
  test('lines persist across sessions, in an owner-only file in an owner-only folder', async () => {
    const path = join(tempDir(), 'state', 'tenantbase', 'history');
    const first = (await open(path)).history;
    await first.add('set a 1');
    await first.add('get a');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    const second = (await open(path)).history;
    expect(second.entries()).toEqual(['set a 1', 'get a']);
  });

  test('a file with looser permissions is narrowed to its owner', async () => {
    const path = join(tempDir(), 'history');
    writeFileSync(path, 'stats\n');
    chmodSync(path, 0o644);
    const { history } = await open(path);
    expect(history.entries()).toEqual(['stats']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test('the file keeps only the newest lines', async () => {
    const path = join(tempDir(), 'history');
    const { history } = await open(path, { maxLines: 10 });
    for (let i = 1; i <= 25; i++) await history.add(`get k${i}`);
    expect(history.entries()).toHaveLength(10);
    expect(history.entries().at(-1)).toBe('get k25');
    const onDisk = readFileSync(path, 'utf8').trim().split('\n');
    expect(onDisk.length).toBeLessThanOrEqual(11); // a tenth of slack saves a rewrite per line
    expect(onDisk.at(-1)).toBe('get k25');
    expect((await open(path, { maxLines: 10 })).history.entries()).toEqual(history.entries());
  });

  test('an oversized file is cut down when loaded', async () => {
    const path = join(tempDir(), 'history');
    writeFileSync(path, Array.from({ length: 50 }, (_, i) => `get k${i}\n`).join(''));
    const { history } = await open(path, { maxLines: 5 });
    expect(history.entries()).toEqual(['get k45', 'get k46', 'get k47', 'get k48', 'get k49']);
    expect(readFileSync(path, 'utf8')).toBe('get k45\nget k46\nget k47\nget k48\nget k49\n');
  });

  test('no file: history is kept for the session only', async () => {
    const { history } = await open(null);
    await history.add('stats');
    expect(history.entries()).toEqual(['stats']);
  });

  test('a history file that cannot be used costs one notice, not the session', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), '');
    const { history, problems } = await open(join(dir, 'file', 'history')); // a folder that is a file
    await history.add('stats');
    await history.add('get a');
    expect(history.entries()).toEqual(['stats', 'get a']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/history is kept for this session only/);
  });

  test('blank lines, repeats and lines typed with a leading space are not recorded', async () => {
    const { history } = await open(null);
    for (const line of ['stats', 'stats', '', '   ', ' set secret hunter2', 'get a ']) await history.add(line);
    expect(history.entries()).toEqual(['stats', 'get a']);
  });
});

describe('rememberedForm with values redacted', () => {
  test.each([
    ['set password hunter2', 'set password'],
    ['set session:42 token --ttl 15m', 'set session:42 --ttl 15m'],
    ['SET "my key" "my value"', 'SET "my key"'],
    ['set --ttl 5m -- -k -v', 'set --ttl 5m -- -k'],
    ['set k', 'set k'],
    ['get password', 'get password'],
    ['set k "open quote', null], // cannot be split: it may hold a value, so it is not kept
  ])('%j → %j', (typed, remembered) => {
    expect(rememberedForm(typed, true)).toBe(remembered);
  });

  test('without redaction lines are kept as typed', () => {
    expect(rememberedForm('set password hunter2', false)).toBe('set password hunter2');
  });
});

describe('REPL settings from the environment', () => {
  test('history location: TBASE_HISTORY, else the XDG state folder; empty or off turns it off', () => {
    expect(replSettings({ TBASE_HISTORY: '/x/h' }).historyPath).toBe('/x/h');
    expect(replSettings({ XDG_STATE_HOME: '/s' }).historyPath).toBe('/s/tenantbase/history');
    expect(replSettings({ HOME: '/home/u' }).historyPath).toBe('/home/u/.local/state/tenantbase/history');
    expect(replSettings({ TBASE_HISTORY: '' }).historyPath).toBeNull();
    expect(replSettings({ TBASE_HISTORY: 'OFF' }).historyPath).toBeNull();
  });

  test('size and redaction', () => {
    expect(replSettings({}).historySize).toBe(1000);
    expect(replSettings({ TBASE_HISTORY_SIZE: '20' }).historySize).toBe(20);
    expect(replSettings({ TBASE_HISTORY_SIZE: 'lots' }).historySize).toBe(1000);
    expect(replSettings({}).redactValues).toBe(false);
    expect(replSettings({ TBASE_HISTORY_REDACT: '1' }).redactValues).toBe(true);
  });
});

describe('searchBack', () => {
  const entries = ['set a 1', 'get a', 'set b 2', 'get b'];
  test('finds the newest entry containing the text, at or before a position', () => {
    expect(searchBack(entries, 'get')).toBe(3);
    expect(searchBack(entries, 'get', 2)).toBe(1);
    expect(searchBack(entries, 'set', 0)).toBe(0);
    expect(searchBack(entries, 'get', 0)).toBe(-1);
    expect(searchBack(entries, 'nothing')).toBe(-1);
    expect(searchBack([], 'x')).toBe(-1);
  });
});
