/** `help [command]`, the top-level examples, `--version --verbose` and the versions `stats` shows. */
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import sqlite3 from 'sqlite3';
import { main } from '../../src/cli.js';
import { commands } from '../../src/commands/index.js';
import { IO } from '../../src/io.js';
import { parseCommandLine } from '../../src/program.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';

afterAll(removeTempDirs);

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The entry in process, piped (or with stdout on a terminal, without colour), memcached off. */
async function tbase(args: string[], { terminal = false } = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const io = new IO({ stdin: new PassThrough(), stdout, stderr, isStdinTTY: false, isStdoutTTY: terminal, isStderrTTY: false, env: { NO_COLOR: '1' } });
  const code = await main(args, io, { TBASE_NO_CACHE: '1' });
  await io.flush();
  return { code, out, err };
}

describe('help', () => {
  test('`help` is `--help`, and `help X` is `X --help` for every command, alias and mode', async () => {
    const overview = await tbase(['--help']);
    expect(overview).toMatchObject({ code: 0, err: '' });
    expect(await tbase(['help'])).toEqual(overview);
    const names = [...commands.flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]), 'batch', 'serve', 'help'];
    for (const name of names) {
      const direct = await tbase([name, '--help']);
      expect(direct).toMatchObject({ code: 0, err: '', out: expect.stringContaining('Usage: tbase ') });
      expect({ name, ...(await tbase(['help', name])) }).toEqual({ name, ...direct });
    }
    expect(await tbase(['help', 'GET'])).toEqual(await tbase(['get', '--help'])); // names are case-insensitive, as in the REPL
  });

  test('an unknown command or extra words: exit 2, one line on stderr, nothing on stdout', async () => {
    expect(await tbase(['help', 'nope'])).toEqual({ code: 2, out: '', err: 'tbase: unknown command "nope" (see tbase --help)\n' });
    const extra = await tbase(['help', 'get', 'set']);
    expect(extra).toMatchObject({ code: 2, out: '' });
    expect(extra.err).toMatch(/^tbase: [^\n]+\n$/);
  });

  test('the overview lists help and completion, and ends with examples that parse as written', async () => {
    const { out } = await tbase(['--help']);
    expect(out).toMatch(/^ {2}help \[command\] +show help for a command/m);
    expect(out).toMatch(/^ {2}completion <shell> +print a shell completion script/m);
    const examples = out.slice(out.indexOf('\nExamples:\n')).split('\n').slice(2).filter((line) => line !== '');
    expect(examples.length).toBeGreaterThanOrEqual(5);
    const lines = examples.map((line) => line.trim().split(/ {2,}/)[0]!);
    for (const pattern of [/--ttl/, /get -n/, /list .*--json/, /\| tbase$/, /^tbase serve/, /completion bash/]) {
      expect(lines.some((line) => pattern.test(line))).toBe(true);
    }
    for (const line of lines) {
      // Each tbase command in the line (after a pipe, inside <(…)), without the shell's redirections.
      for (const [, args] of line.matchAll(/\btbase((?: [^\s|<>()]+)*)/g)) {
        const outcome = parseCommandLine(args!.trim().split(' ').filter(Boolean), VERSION, { writeOut: () => undefined });
        expect({ line, kind: outcome.kind }).not.toEqual({ line, kind: 'done' });
      }
    }
  });
});

describe('versions', () => {
  const runtime = `sqlite ${sqlite3.VERSION}\nnode ${process.versions.node}\n`;

  test('--version prints the version; with --verbose also the SQLite library and Node versions', async () => {
    expect(await tbase(['--version'])).toEqual({ code: 0, out: `${VERSION}\n`, err: '' });
    expect(await tbase(['-V'])).toEqual({ code: 0, out: `${VERSION}\n`, err: '' });
    for (const args of [['--version', '--verbose'], ['--verbose', '--version'], ['-V', '--verbose']]) {
      expect({ args, ...(await tbase(args)) }).toEqual({ args, code: 0, out: `${VERSION}\n${runtime}`, err: '' });
    }
  });

  test('stats shows the tbase, SQLite and Node versions, plain, on a terminal and in JSON', async () => {
    const db = tempDbPath();
    const plain = await tbase(['--db', db, 'stats']);
    expect(plain).toMatchObject({ code: 0, err: '' });
    expect(plain.out).toContain(`\ntbase_version\t${VERSION}\nsqlite_version\t${sqlite3.VERSION}\nnode_version\t${process.versions.node}\n`);
    const human = await tbase(['--db', db, 'stats'], { terminal: true });
    expect(human.out).toMatch(new RegExp(`^tbase version +${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    expect(human.out).toMatch(/^sqlite version +\d+\.\d+\.\d+$/m);
    const json = JSON.parse((await tbase(['--db', db, '--json', 'stats'])).out);
    expect(json.versions).toEqual({ tbase: VERSION, sqlite: sqlite3.VERSION, node: process.versions.node });
  });
});
