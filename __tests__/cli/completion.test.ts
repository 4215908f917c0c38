/**
 * Shell completion, end to end: bash's own completion function from `tbase completion bash` is called the way
 * bash calls it (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT), and it runs the built bin's hidden `__complete`
 * entry. What comes back in COMPREPLY is what readline would insert, so the quoting of keys is checked by letting
 * bash read the completed word. fish's `complete -C` does the same for fish; zsh's script is checked to parse.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { commands } from '../../src/commands/index.js';
import { GLOBAL_OPTIONS } from '../../src/commands/program-words.js';
import { optionNames } from '../../src/commands/words.js';
import { silentServer } from '../helpers/fake-servers.js';
import { postgresAvailable, startPostgres } from '../helpers/postgres.js';
import { removeTempDirs, tempDbPath, tempDir } from '../helpers/temp.js';
import { BIN, runTbase } from '../helpers/tbase.js';

afterAll(removeTempDirs);

/** Keys that need quoting in every way a shell quotes: blanks, quotes, `$`, globs, a newline, a tab, unicode. */
const KEYS = ['my key', 'my kettle', 'session:42', 'session:43', "it's", 'new\nline', 'a$b*c', 'back\\slash', 'quote"d', 'clé:1', 'x y;z&(w)', 'tab\there', 'brace{1,2}'];
const OTHER_KEYS = ['other:1', 'other:2'];

const db = tempDbPath();
const otherDb = tempDbPath();
const scripts = tempDir();
/** Where the shells find `tbase` (the built bin) and the node it runs on. */
const PATH = [dirname(BIN), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');

beforeAll(async () => {
  for (const [path, keys] of [[db, KEYS], [otherDb, OTHER_KEYS]] as const) {
    // Batch lines: double quotes with \n and \t escapes carry every key.
    const lines = keys.map((key) => `set "${key.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}" v\n`).join('');
    expect(await runTbase(['--no-cache', '--db', path], { stdin: lines })).toMatchObject({ code: 0, stderr: '' });
  }
  for (const shell of ['bash', 'zsh', 'fish']) {
    const script = await runTbase(['completion', shell]);
    expect(script).toMatchObject({ code: 0, stderr: '' });
    writeFileSync(join(scripts, shell), script.stdout);
  }
});

/** Environment for a shell completing: the test database unless `env` says otherwise; memcached nowhere. */
function shellEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const merged: Record<string, string | undefined> = { PATH, LC_ALL: 'C.UTF-8', HOME: tempDir(), TBASE_DB: db, TBASE_SERVERS: '127.0.0.1:1', ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged as NodeJS.ProcessEnv;
}

/**
 * Sources the bash script, finds the function it registered for tbase (`complete -p tbase`), sets the COMP_*
 * variables for `line` (the cursor at its end) and calls it as bash does. `words` are COMP_WORDS (bash splits
 * at COMP_WORDBREAKS too: `session:4` is three words); by default the line split at blanks. `compopt` is
 * recorded (on stderr), since outside a real completion bash refuses it.
 */
const BASH_DRIVER = `
source "$SCRIPT"
compopt() { COMPOPT+="$* "; }
spec=$(complete -p tbase) || exit 90
[[ $spec =~ -F\\ ([^ ]+) ]] || exit 91
fn=\${BASH_REMATCH[1]}
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE=$LINE
COMP_POINT=\${#COMP_LINE}
"$fn" tbase "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
(( \${#COMPREPLY[@]} )) && printf '%s\\0' "\${COMPREPLY[@]}"
printf %s "$COMPOPT" >&2
exit 0
`;

async function bashComplete(line: string, options: { words?: string[]; env?: Record<string, string | undefined> } = {}): Promise<{ replies: string[]; compopt: string }> {
  const words = options.words ?? line.split(/[ \t]+/);
  const { stdout, stderr } = await run('bash', ['-c', BASH_DRIVER, 'bash', ...words], shellEnv({ SCRIPT: join(scripts, 'bash'), LINE: line, ...options.env }));
  return { replies: stdout === '' ? [] : stdout.slice(0, -1).split('\0'), compopt: stderr };
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve({ stdout, stderr })));
  });
}

/** The word bash reads from `typed`, as a command's argument. */
async function bashReads(typed: string): Promise<string> {
  return (await run('bash', ['-c', 'eval "set -- $WORD"; printf %s "$1"'], shellEnv({ WORD: typed }))).stdout;
}

const has = (shell: string) => spawnSync(shell, ['-c', 'exit 0']).status === 0;

describe('bash', () => {
  test('command names and aliases, from the command table and the program', async () => {
    const { replies } = await bashComplete('tbase ');
    const names = commands.flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]);
    expect(replies).toEqual([...names, 'batch', 'help', 'serve'].sort());
    expect((await bashComplete('tbase co')).replies).toEqual(['completion']);
    expect((await bashComplete('tbase --json d')).replies).toEqual(['decr', 'del', 'delete']);
    expect((await bashComplete('tbase help ca')).replies).toEqual(['cache']);
    expect((await bashComplete('tbase completion ')).replies).toEqual(['bash', 'zsh', 'fish']);
  });

  test("every command's flags as its table entry declares them, then the global ones", async () => {
    const globals = GLOBAL_OPTIONS.flatMap((option) => option.flags.split(/[ ,|]+/).filter((flag) => flag.startsWith('--')));
    for (const spec of commands) {
      const line = spec.name === 'lock' ? 'tbase lock name --' : `tbase ${spec.name} --`;
      const { replies } = await bashComplete(line);
      expect({ command: spec.name, replies }).toEqual({ command: spec.name, replies: [...new Set([...optionNames(spec), ...globals, '--help'])] });
    }
    expect((await bashComplete('tbase --')).replies).toEqual([...globals, '--version', '--help']);
    expect((await bashComplete('tbase set k v --if-')).replies).toEqual(['--if-absent', '--if-revision', '--if-value']);
    expect((await bashComplete('tbase serve --')).replies).toEqual(expect.arrayContaining(['--host', '--port']));
    expect((await bashComplete('tbase set k v --ttl ')).replies).toEqual([]); // a duration, not a key
  });

  test('keys from the database: by prefix, escaped for bash, for every command that takes one', async () => {
    expect((await bashComplete('tbase get my\\ k')).replies).toEqual(['my\\ kettle', 'my\\ key']);
    expect((await bashComplete('tbase get "my k')).replies).toEqual(['my kettle', 'my key']); // inside the open quote
    expect((await bashComplete("tbase get 'my k")).replies).toEqual(['my kettle', 'my key']);
    // bash splits COMP_WORDS (and readline the word it replaces) at the colon.
    expect((await bashComplete('tbase get session:4', { words: ['tbase', 'get', 'session', ':', '4'] })).replies).toEqual(['42', '43']);
    for (const line of ['tbase get a b it', 'tbase ttl it', 'tbase incr it', 'tbase decr it', 'tbase delete it', 'tbase rm it', 'tbase watch it', 'tbase list it', 'tbase export it', 'tbase set it']) {
      expect({ line, replies: (await bashComplete(line)).replies }).toEqual({ line, replies: ["it\\'s"] });
    }
    for (const line of ['tbase delete --prefix my', 'tbase watch --prefix my', 'tbase --json ls my']) {
      expect({ line, replies: (await bashComplete(line)).replies }).toEqual({ line, replies: ['my\\ kettle', 'my\\ key'] });
    }
    expect((await bashComplete('tbase delete --prefix=my\\ ke', { words: ['tbase', 'delete', '--prefix', '=', 'my\\ ke'] })).replies).toEqual(['my\\ kettle', 'my\\ key']);
    expect((await bashComplete('tbase set my\\ key ')).replies).toEqual([]); // a value, not a key
    expect((await bashComplete('tbase get ne')).replies).toEqual(["$'new\\nline'"]);
    expect((await bashComplete('tbase get ')).replies).toHaveLength(KEYS.length);
  });

  test.each(KEYS.filter((key) => !key.startsWith('my') && !key.startsWith('session')))('%j completes from a unique prefix, typed bare, in "…" and in \'…\', to the key itself', async (key) => {
    const prefix = key.slice(0, 2);
    const typed = [
      { open: '', text: prefix.replace(/[^A-Za-z0-9_é]/g, '\\$&'), close: '' },
      { open: '"', text: prefix.replace(/["\\$`]/g, '\\$&'), close: '"' },
      { open: "'", text: prefix, close: "'" },
    ];
    for (const { open, text, close } of typed) {
      const { replies } = await bashComplete(`tbase get ${open}${text}`);
      expect({ typed: open + text, replies: replies.length }).toEqual({ typed: open + text, replies: 1 });
      // readline puts the reply in place of the text after the open quote (or of the whole word), then closes it.
      expect(await bashReads(`${open}${replies[0]}${close}`)).toBe(key);
    }
  });

  test('--db on the line, or TBASE_DB, says which database the keys come from', async () => {
    expect((await bashComplete(`tbase --db ${otherDb} get `)).replies).toEqual(OTHER_KEYS);
    expect((await bashComplete(`tbase get --db ${otherDb} o`)).replies).toEqual(OTHER_KEYS);
    expect((await bashComplete(`tbase --db=${otherDb} get o`, { words: ['tbase', '--db', '=', otherDb, 'get', 'o'] })).replies).toEqual(OTHER_KEYS);
    expect((await bashComplete('tbase get o', { env: { TBASE_DB: otherDb } })).replies).toEqual(OTHER_KEYS);
    expect((await bashComplete('tbase get o')).replies).toEqual([]);
  });

  test('a missing database gives no keys and is not created, also at the default location', async () => {
    const folder = tempDir();
    const missing = join(folder, 'data', 'tbase.db');
    expect(await bashComplete(`tbase --db ${missing} get `)).toEqual({ replies: [], compopt: '' });
    expect(await bashComplete('tbase get ', { env: { TBASE_DB: missing } })).toEqual({ replies: [], compopt: '' });
    const home = tempDir();
    const fresh = { TBASE_DB: undefined, HOME: home, XDG_DATA_HOME: undefined };
    expect((await bashComplete('tbase get ', { env: fresh })).replies).toEqual([]);
    expect((await bashComplete('tbase g', { env: fresh })).replies).toEqual(['get']); // the rest still completes
    expect(readdirSync(folder)).toEqual([]);
    expect(readdirSync(home)).toEqual([]);
  });

  test('file names are left to bash: import, batch, --db', async () => {
    for (const line of ['tbase import ', 'tbase batch ', 'tbase --db ', 'tbase get --db ', 'tbase --db=/tm']) {
      expect({ line, ...(await bashComplete(line)) }).toEqual({ line, replies: [], compopt: '-o default ' });
    }
  });

  test('past the limit of keys, the word is not extended beyond what is typed', async () => {
    const many = tempDbPath();
    const lines = Array.from({ length: 160 }, (_, i) => `set bulk${String(i).padStart(3, '0')} v\n`).join('');
    expect((await runTbase(['--no-cache', '--db', many], { stdin: lines })).code).toBe(0);
    const { replies } = await bashComplete('tbase get bulk', { env: { TBASE_DB: many } });
    expect(replies).toHaveLength(151); // the first 150, and the word as typed: bash inserts no common prefix
    expect(replies).toContain('bulk');
    expect(replies.slice(0, 150).every((reply) => reply.startsWith('bulk0') || reply.startsWith('bulk1'))).toBe(true);
  });
});

describe('the hidden entry', () => {
  test('reads keys without memcached, says nothing on stderr, and is in no help', async () => {
    let connections = 0;
    const memcached = await silentServer(() => connections++);
    const result = await runTbase(['__complete', 'zsh', 'tbase get my'], { env: { TBASE_DB: db, TBASE_SERVERS: memcached.address } });
    expect(result).toMatchObject({ code: 0, stderr: '', out: 'words\0my kettle\0my key\0' }); // zsh quotes for itself
    expect(connections).toBe(0);
    await memcached.close();
    expect((await runTbase(['--help'])).out).not.toContain('__complete');
  });

  test('anything it cannot make sense of: no candidates, nothing on stderr, exit 0', async () => {
    const notADatabase = join(tempDir(), 'notes.txt');
    writeFileSync(notADatabase, 'not a database');
    const cases = [[], ['tcsh', 'tbase g'], ['bash'], ['bash', 'tbase get "unclosed\\'], ['fish', 'tbase nosuch '], ['bash', 'tbase get ', '', 'extra']];
    for (const args of cases) {
      const { code, out, stderr } = await runTbase(['__complete', ...args], { env: { TBASE_DB: notADatabase } });
      expect({ args, code, candidates: out.split('\0').slice(1, -1), stderr }).toEqual({ args, code: 0, candidates: [], stderr: '' });
    }
    expect(readFileSync(notADatabase, 'utf8')).toBe('not a database');
  });

  test('fish: keys as they are, one with a tab left out (fish reads a tab as the start of a description)', async () => {
    const { out } = await runTbase(['__complete', 'fish', 'tbase get '], { env: { TBASE_DB: db } });
    expect(out.split('\0').slice(1, -1)).toEqual([...KEYS].filter((key) => !key.includes('\t')).sort(byBytes));
  });
});

(postgresAvailable() ? test : test.skip)('a postgres:// --db: keys from its schema; a schema that does not exist is not created', async () => {
  const postgres = await startPostgres({ settings: { fsync: 'off' } });
  try {
    const url = postgres.url;
    expect((await bashComplete(`tbase --db ${url} get `)).replies).toEqual([]);
    expect((await runTbase(['--no-cache', '--db', url], { stdin: 'set "pg key" v\nset pg:2 v\n' })).code).toBe(0);
    expect((await bashComplete(`tbase --db ${url} get pg`)).replies).toEqual(['pg\\ key', 'pg:2']);
    expect((await bashComplete(`tbase --db ${url}?schema=elsewhere get `)).replies).toEqual([]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT nspname FROM pg_namespace WHERE nspname IN ('tbase', 'elsewhere')");
    await client.end();
    expect(rows).toEqual([{ nspname: 'tbase' }]);
  } finally {
    await postgres.stop();
  }
});

/** SQLite's key order: UTF-8 bytes. */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

describe('zsh and fish scripts', () => {
  test('zsh parses its script', () => {
    if (!has('zsh')) return console.log('zsh is not installed: its completion script was not checked (apt-get install -y zsh)');
    expect(spawnSync('zsh', ['-n', join(scripts, 'zsh')], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
  });

  test('fish parses its script, and completes commands, flags and keys with it', async () => {
    if (!has('fish')) return console.log('fish is not installed: its completion script was not checked (apt-get install -y fish)');
    expect(spawnSync('fish', ['--no-execute', join(scripts, 'fish')], { encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
    // `complete -C LINE` prints what fish offers for LINE, one per line (descriptions after a tab).
    const fish = async (line: string, env: Record<string, string> = {}) => {
      const command = `source ${JSON.stringify(join(scripts, 'fish'))}; complete -C ${JSON.stringify(line)}`;
      const { stdout } = await run('fish', ['--no-config', '-c', command], shellEnv(env));
      return stdout.split('\n').filter((candidate) => candidate !== '');
    };
    expect(await fish('tbase comp')).toEqual(['completion']);
    expect(await fish('tbase set k v --if-')).toEqual(['--if-absent', '--if-revision', '--if-value']);
    expect(await fish('tbase get my')).toEqual(['my kettle', 'my key']);
    expect(await fish('tbase get "my k')).toEqual(['my kettle', 'my key']);
    expect(await fish('tbase get it')).toEqual(["it's"]);
    expect(await fish(`tbase --db ${otherDb} get o`)).toEqual(OTHER_KEYS);
    expect(await fish(`TBASE_DB=${otherDb} tbase get o`)).toEqual(OTHER_KEYS); // bash and zsh leave VAR=value out of the line
    expect(await fish(`tbase import ${otherDb.slice(0, -4)}`)).toEqual([otherDb]);
    expect(await fish(`tbase --db=${otherDb.slice(0, -4)}`)).toEqual([`--db=${otherDb}`]);
    const missing = join(tempDir(), 'missing.db');
    expect(await fish(`tbase --db ${missing} get `)).toEqual([]);
    expect(existsSync(missing)).toBe(false);
  });
});
