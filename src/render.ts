/**
 * Renderers: command results and errors to text, in three modes.
 *  - human: stdout is a terminal; colour and friendly wording;
 *  - plain: piped; data only, no decoration, one documented shape per command;
 *  - json: one JSON object per command, always with `ok` and `command`.
 */
import { isUtf8 } from 'node:buffer';
import type { CommandResult, KeyRevisions } from './commands/types.js';
import { ConflictError, ExitCode, exitCodeOf, HistoryGoneError, messageOf, NotFoundError } from './errors.js';
import type { IO, OutputMode } from './io.js';
import type { PoolState } from './store/cache-aside.js';
import type { Entry } from './store/store.js';
import type { Change } from './store/changes.js';

export interface RenderContext {
  io: IO;
  mode: OutputMode;
  now: number;
  /** Extra fields for JSON objects (batch adds the input line number). */
  extra?: Record<string, unknown>;
}

export async function renderResult(ctx: RenderContext, command: string, result: CommandResult): Promise<void> {
  const { io, mode } = ctx;
  const c = io.colour;
  if (mode === 'json') {
    const fields = resultFields(result, ctx.now);
    if (fields) return io.out(`${JSON.stringify({ ok: result.kind !== 'values' || result.missing.length === 0, command, ...ctx.extra, ...fields })}\n`);
  }
  switch (result.kind) {
    case 'stored': {
      if (mode !== 'human') return;
      const expiry = result.expiresAt ? `, expires in ${humanDuration(result.expiresAt - ctx.now)}` : '';
      return io.out(`${c.green('OK')}${c.dim(` (revision ${result.revisions.revision}${expiry})`)}\n`);
    }
    case 'value': {
      const { entry } = result;
      if (mode === 'human' && !isUtf8(entry.value)) return io.out(`${c.yellow(escapeBytes(entry.value))}\n`);
      await io.out(entry.value);
      return result.newline ? io.out('\n') : undefined;
    }
    case 'values': {
      const lines = result.found.map(({ entry }) =>
        mode === 'human' ? `${c.cyan(escapeText(entry.key))}  ${preview(entry.value)}\n` : `${escapeText(entry.key)}\t${escapeBytes(entry.value)}\n`,
      );
      return io.out(lines.join(''));
    }
    case 'deleted':
      if (mode === 'human') return io.out(`${c.green('Deleted')} ${JSON.stringify(result.key)}${c.dim(` (revision ${result.revision})`)}\n`);
      return;
    case 'deletedPrefix': {
      if (mode !== 'human') return io.out(`${result.count}\n`);
      const under = result.prefix === '' ? 'in the database' : `under ${JSON.stringify(result.prefix)}`;
      const revision = result.count > 0 ? c.dim(` (revision ${result.revision})`) : '';
      return io.out(`${c.green('Deleted')} ${result.count} ${result.count === 1 ? 'key' : 'keys'} ${under}${revision}\n`);
    }
    case 'counter':
      return io.out(`${result.value}\n`);
    case 'entries':
      return renderEntries(ctx, command, result.entries, result.keysOnly);
    case 'stats':
      return renderStats(ctx, command, result);
    case 'ttl':
      if (mode === 'human') return io.out(result.expiresAt === null ? `${c.dim('no expiry')}\n` : `${humanDuration(result.expiresAt - ctx.now)}\n`);
      return io.out(`${result.expiresAt === null ? -1 : ttlSeconds(result.expiresAt, ctx.now)}\n`);
    case 'exported':
      // The export document is JSON already: the same text with or without --json.
      for await (const chunk of result.chunks('lines')) await io.out(chunk);
      return;
    case 'pool':
      return renderPool(ctx, command, result);
    case 'watch':
      for await (const change of result.events) {
        // After a stop, the rest of the revision goes out only while the reader takes it (a reader that stopped
        // reading must not keep a stopped watch alive): past a grace period the output is given up.
        if (!(await writeUnlessStuck(io, changeLine({ ...ctx, now: result.now() }, change), result.stopped))) {
          io.abandonStdout();
          return;
        }
      }
      return;
    case 'ran':
      return;
    case 'script':
      return io.out(result.script);
    case 'imported':
      if (mode === 'human') return io.out(`${c.green('Imported')} ${result.count} ${result.count === 1 ? 'entry' : 'entries'}${c.dim(` (${result.overwritten} overwritten, revision ${result.revision})`)}\n`);
      return;
  }
}

/** How long a stopped watch waits for a reader that does not read. */
const STOP_GRACE_MS = 1000;

/** Writes `text`; false when `stopped` has aborted and the write has not gone through STOP_GRACE_MS after it. */
async function writeUnlessStuck(io: IO, text: string, stopped: AbortSignal): Promise<boolean> {
  const written = io.out(text).then(() => true);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const givenUp = new Promise<boolean>((resolve) => {
    const start = () => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS));
    if (stopped.aborted) start();
    else stopped.addEventListener('abort', (onAbort = start), { once: true });
  });
  try {
    return await Promise.race([written, givenUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) stopped.removeEventListener('abort', onAbort);
  }
}

/**
 * One watch event, one line: plain `PUT<TAB>key<TAB>value`, `DELETE<TAB>key`, `EXPIRE<TAB>key` (escaped as `list`);
 * JSON `{"type","key","value",…,"revision"}`; on a terminal, coloured with the revision.
 */
export function changeLine(ctx: RenderContext, change: Change): string {
  const word = change.type.toUpperCase();
  if (ctx.mode === 'json') return `${JSON.stringify(changeFields(change, ctx.now))}\n`;
  const value = change.value === null ? '' : `\t${escapeBytes(change.value)}`;
  if (ctx.mode === 'plain') return `${word}\t${escapeText(change.key)}${value}\n`;
  const c = ctx.io.colour;
  const paint = change.type === 'put' ? c.green : change.type === 'delete' ? c.red : c.yellow;
  return `${paint(word.padEnd(6))} ${c.cyan(escapeText(change.key))}${change.value === null ? '' : `  ${preview(change.value)}`}${c.dim(`  (revision ${change.revision})`)}\n`;
}

/** A watch event as JSON (also the data of `GET /watch` events). */
export function changeFields(change: Change, now: number) {
  const base = { type: change.type, key: change.key };
  if (change.type !== 'put' || change.value === null) return { ...base, revision: change.revision };
  return {
    ...base,
    ...valueFields(change.value),
    ttl: ttlSeconds(change.expiresAt, now),
    revision: change.revision,
    createRevision: change.createRevision,
    version: change.version,
  };
}

/**
 * The JSON fields (after `ok` and `command`) of a result that is one small object: one-shot `--json` and batch
 * lines share them. Undefined for results that stream (list, export) or have a shape of their own (stats).
 */
export function resultFields(result: CommandResult, now: number): Record<string, unknown> | undefined {
  switch (result.kind) {
    case 'stored':
      return { key: result.key, ttl: ttlSeconds(result.expiresAt, now), ...revisionFields(result.revisions) };
    case 'value':
      return { ...entryFields(result.entry, now), source: result.source };
    case 'values':
      return {
        entries: result.found.map(({ entry, source }) => ({ ...entryFields(entry, now), source })),
        missing: result.missing,
        ...(result.missing.length > 0 ? { error: 'not_found' } : {}),
      };
    case 'deleted':
      return { key: result.key, revision: result.revision };
    case 'deletedPrefix':
      return { prefix: result.prefix, count: result.count, revision: result.revision };
    case 'counter':
      return { key: result.key, value: result.value, ttl: ttlSeconds(result.expiresAt, now), ...revisionFields(result.revisions) };
    case 'ttl':
      return { key: result.key, ttl: ttlSeconds(result.expiresAt, now) };
    case 'imported':
      return { count: result.count, overwritten: result.overwritten, revision: result.revision };
    case 'pool':
      return poolJson(result);
    case 'script':
      return { shell: result.shell, script: result.script };
    default:
      return undefined;
  }
}

/**
 * What a result falls short of, told on stderr (one line per missing key of a multi-get); the exit status it
 * means (0 when nothing is missing). The caller decides whether that status counts (batch: it does not).
 */
export function reportShortfall(io: IO, result: CommandResult, prefix = 'tbase'): ExitCode {
  if (result.kind !== 'values' || result.missing.length === 0) return ExitCode.ok;
  for (const key of result.missing) io.err(`${io.errColour.red(`${prefix}:`)} ${new NotFoundError(key).message}`);
  return ExitCode.notFound;
}

async function renderEntries(ctx: RenderContext, command: string, entries: AsyncIterable<Entry>, keysOnly: boolean) {
  const { io, mode } = ctx;
  const c = io.colour;
  if (mode === 'json') {
    // Streamed: the document is written entry by entry and is only complete at the closing bracket.
    const head = JSON.stringify({ ok: true, command, ...ctx.extra, entries: [] }).slice(0, -2);
    await io.out(head);
    let first = true;
    for await (const entry of entries) {
      const item = keysOnly ? JSON.stringify(entry.key) : JSON.stringify(entryFields(entry, ctx.now));
      await io.out(first ? item : `,${item}`);
      first = false;
    }
    return io.out(']}\n');
  }
  let count = 0;
  for await (const entry of entries) {
    count++;
    if (mode === 'plain') {
      await io.out(keysOnly ? `${escapeText(entry.key)}\n` : `${escapeText(entry.key)}\t${escapeBytes(entry.value)}\n`);
      continue;
    }
    const ttl = entry.expiresAt ? c.dim(`  (ttl ${humanDuration(entry.expiresAt - ctx.now)})`) : '';
    await io.out(keysOnly ? `${c.cyan(escapeText(entry.key))}\n` : `${c.cyan(escapeText(entry.key))}  ${preview(entry.value)}${ttl}\n`);
  }
  if (mode === 'human') await io.out(c.dim(count === 0 ? '(no entries)\n' : `(${count} ${count === 1 ? 'entry' : 'entries'})\n`));
}

/** The stats as named text fields, in display order (plain one-shot, human and batch lines share them). */
export function statsFields(result: Extract<CommandResult, { kind: 'stats' }>): [string, string][] {
  const { stats } = result;
  const fields: [string, string | number | null][] = [
    ['database', result.dbPath],
    ['revision', stats.revision],
    ['keys', stats.keys],
    ['expired_keys', stats.expiredKeys],
    ['db_bytes', stats.dbBytes],
    ['pending_invalidations', stats.pendingInvalidations],
    ['cache', stats.cache],
    ['servers', Object.entries(stats.servers).map(([s, state]) => `${s} (${state})`).join(', ') || '-'],
    ['hits', stats.hits],
    ['misses', stats.misses],
    ...poolFields(stats.pool),
    ['tbase_version', result.versions.tbase],
    ['sqlite_version', result.versions.sqlite],
    ['node_version', result.versions.node],
  ];
  return fields.map(([name, value]) => [name, String(value ?? 'unknown')]);
}

async function renderStats(ctx: RenderContext, command: string, result: Extract<CommandResult, { kind: 'stats' }>) {
  const { io, mode } = ctx;
  const { stats } = result;
  const rows = statsFields(result);
  if (mode === 'json') {
    return io.out(`${JSON.stringify({ ok: true, command, ...ctx.extra, database: result.dbPath, ...stats, versions: result.versions })}\n`);
  }
  const c = io.colour;
  const paint = (name: string, value: string) =>
    name === 'cache' ? (value === 'up' ? c.green(value) : value === 'down' ? c.red(value) : c.yellow(value)) : value;
  return renderFields(ctx, rows, '', paint);
}

/** Named fields: `name<TAB>value` lines when piped; aligned, bold names (`_` as blanks) on a terminal. */
function renderFields(ctx: RenderContext, rows: [string, string][], head = '', paint = (_name: string, value: string) => value) {
  const { io, mode } = ctx;
  if (mode === 'plain') return io.out(rows.map(([name, value]) => `${name}\t${value}\n`).join(''));
  const width = Math.max(...rows.map(([name]) => name.length));
  return io.out(head + rows.map(([name, value]) => `${io.colour.bold(name.replace(/_/g, ' ').padEnd(width))}  ${paint(name, value)}\n`).join(''));
}

/** `cache pool` in JSON: the recorded pool (null: none), this process's servers, and for `set` what changed. */
export function poolJson({ pool, change }: Extract<CommandResult, { kind: 'pool' }>) {
  return { ...pool, ...(change ? { changed: change.changed, previous: change.before } : {}) };
}

/** The pool as named text fields (stats and `cache pool` share them). */
export function poolFields(pool: PoolState): [string, string | number][] {
  return [
    ['pool', pool.recorded?.servers.join(',') ?? '-'],
    ['pool_epoch', pool.recorded?.epoch ?? '-'],
    ['pool_hashing', pool.recorded?.hashing ?? '-'],
    ['configured_servers', pool.configured.join(',') || '-'],
    ['pool_in_use', pool.using ? 'yes' : 'no'],
  ];
}

async function renderPool(ctx: RenderContext, command: string, result: Extract<CommandResult, { kind: 'pool' }>) {
  const { io, mode } = ctx;
  const { pool, change } = result;
  if (mode === 'json') return io.out(`${JSON.stringify({ ok: true, command, ...ctx.extra, ...poolJson(result) })}\n`);
  const rows = poolFields(pool).map(([name, value]): [string, string] => [name, String(value)]);
  const c = io.colour;
  let head = '';
  if (change && !change.changed) head = `${c.dim('unchanged: that is the recorded pool already')}\n`;
  else if (change) head = `${c.green('Pool changed')} ${c.dim(`(epoch ${pool.recorded?.epoch}; the new pool starts with an empty cache)`)}\n`;
  return renderFields(ctx, rows, head);
}

/** The message on stderr, and in JSON mode the error object on stdout, for a failed command. */
export async function renderError(ctx: RenderContext, command: string | undefined, error: unknown, prefix = 'tbase'): Promise<void> {
  const { io } = ctx;
  io.err(`${io.errColour.red(`${prefix}:`)} ${messageOf(error)}`);
  if (ctx.mode !== 'json') return;
  await io.out(`${JSON.stringify({ ok: false, command: command ?? null, ...ctx.extra, ...errorFields(error) })}\n`);
}

/** A failure in JSON: the key it concerns, its kind (`not_found`, `conflict` with the key's revision, …), the message. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof ConflictError) return { key: error.key, error: 'conflict', revision: error.revision, message: messageOf(error) };
  if (error instanceof NotFoundError) return { key: error.key, error: 'not_found', message: messageOf(error) };
  if (error instanceof HistoryGoneError) return { error: 'history_gone', revision: error.revision, oldest: error.oldest, message: messageOf(error) };
  return { error: errorName(exitCodeOf(error)), message: messageOf(error) };
}

export function errorName(code: ExitCode): string {
  return { [ExitCode.ok]: 'ok', [ExitCode.notFound]: 'not_found', [ExitCode.usage]: 'usage', [ExitCode.storage]: 'storage', [ExitCode.conflict]: 'conflict' }[code];
}

/** A value in JSON: text when it is valid UTF-8, otherwise base64 with `encoding` saying so. */
export function valueFields(value: Buffer): { value: string; encoding?: 'base64' } {
  return isUtf8(value) ? { value: value.toString('utf8') } : { value: value.toString('base64'), encoding: 'base64' };
}

export function entryFields(entry: Entry, now: number) {
  return { key: entry.key, ...valueFields(entry.value), ttl: ttlSeconds(entry.expiresAt, now), ...revisionFields(entry) };
}

export function revisionFields({ revision, createRevision, version }: KeyRevisions) {
  return { revision, createRevision, version };
}

/** Seconds left, rounded up (a key with 0.2 s left still has 1); null when the key never expires. */
export function ttlSeconds(expiresAt: number | null, now: number): number | null {
  return expiresAt === null ? null : Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? `${Math.floor((s % 86400) / 3600)}h` : ''}`;
}

export function escapeText(text: string): string {
  return escapeBytes(Buffer.from(text, 'utf8'));
}

/**
 * One line, unambiguous: backslash, tab, newline and carriage return as \\ \t \n \r; other control characters and
 * bytes that are not valid UTF-8 as \xNN; all other text as is.
 */
const NAMED_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeChar = (ch: string) => NAMED_ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;

export function escapeBytes(value: Buffer): string {
  if (isUtf8(value)) return value.toString('utf8').replace(/[\\\x00-\x1f\x7f]/g, escapeChar);
  let out = '';
  for (const byte of value) {
    const ch = String.fromCharCode(byte);
    out += NAMED_ESCAPES[ch] ?? (byte >= 0x20 && byte < 0x7f ? ch : escapeChar(ch));
  }
  return out;
}

function preview(value: Buffer, max = 60): string {
  const head = value.subarray(0, max * 4);
  const text = isUtf8(value) ? escapeText(head.toString('utf8')) : escapeBytes(head);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
