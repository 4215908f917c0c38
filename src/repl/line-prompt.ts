/**
 * The REPL's command line: one custom Inquirer prompt that adds to a plain input
 *  - history: ↑/↓ walk `history` (oldest first); the line being typed is kept and comes back below the newest;
 *  - Tab completion through the pure `complete()`; keys come from `lookupKeys`; several matches are listed;
 *  - Ctrl-C clears the line, and on an empty line ends the session, like Ctrl-D (or the end of input);
 *  - Ctrl-R: reverse incremental search of the history, as in bash: `(reverse-i-search)'text': match`; Ctrl-R
 *    again finds older matches; Enter runs the match, Esc, Ctrl-G, ←/→/↑/↓ or Tab keep it for editing, Ctrl-C gives
 *    the line back as it was;
 *  - a prompt text that is re-read every `refreshMs`, so it can show the cache going down and coming back.
 *  - an inline hint: the rest of the command's syntax, dimmed after the line (`hint`, see hints.ts);
 * It answers with the line, or `exit`. Running the line is the loop's business; keys typed ahead (a paste, or
 * typing on while a command runs) are the Keyboard's, which hands this prompt one line's worth at a time.
 */
import { AsyncResource } from 'node:async_hooks';
import { stripVTControlCharacters } from 'node:util';
import { createPrompt, isDownKey, isEnterKey, isTabKey, isUpKey, useEffect, useRef, useState, useKeypress } from '@inquirer/core';
import type { KeypressEvent } from '@inquirer/core';
import { quoteWord } from '../grammar.js';
import { complete, completionTarget } from './complete.js';
import { fitHint } from './hints.js';
import { searchBack } from './history.js';
import { holdTypeAhead } from './keyboard.js';

export interface KeyLookup {
  keys: string[];
  /** More keys share the prefix than were returned. */
  truncated: boolean;
}

export interface LinePromptConfig {
  /** The prompt text (`tbase> `), read again on every render and every `refreshMs`. */
  prompt: () => string;
  /** Earlier lines, oldest first. */
  history: readonly string[];
  /** Keys starting with a prefix, bounded; a failure simply means no key candidates. */
  lookupKeys: (prefix: string) => Promise<KeyLookup>;
  /** How often to re-read `prompt` while waiting; 0 never. */
  refreshMs?: number;
  /** At most this many candidates are listed under the line. */
  maxListed?: number;
  /** The syntax still to type after a line (hints.ts), shown after it; no hints when absent. */
  hint?: (line: string) => string;
  /** The terminal's width, so that a hint never wraps. */
  columns?: () => number;
  /** Paints the candidate list and the hint (dim, usually), and the line once entered. */
  style?: { candidates?: (text: string) => string; hint?: (text: string) => string; line?: (text: string) => string };
}

export type LineAnswer = { kind: 'line'; line: string } | { kind: 'exit' };

export const linePrompt = createPrompt<LineAnswer, LinePromptConfig>((config, done) => {
  const [line, setLine] = useState('');
  const [status, setStatus] = useState<'idle' | 'done'>('idle');
  const [promptText, setPromptText] = useState(config.prompt);
  const [listing, setListing] = useState<string | null>(null);
  // Where ↑/↓ stand: history.length is the line being typed, whose text is kept in `draft`.
  const position = useRef(config.history.length);
  const draft = useRef('');
  const finish = useRef(done);
  finish.current = done;
  // Reverse search, while on: readline's line holds the query; `at` is the match shown (-1: none yet or failed).
  const [search, setSearch] = useState<{ query: string; at: number; failed: boolean; before: string } | null>(null);

  useEffect((rl) => {
    // Ctrl-C is ours (clear the line, or exit on an empty one). Readline reports it as SIGINT, which the prompt
    // machinery would turn into an ExitPromptError; a listener of our own keeps readline from closing instead.
    const inherited = (rl as unknown as NodeJS.EventEmitter).listeners('SIGINT') as (() => void)[];
    for (const listener of inherited) rl.removeListener('SIGINT', listener);
    const ignore = () => undefined;
    rl.on('SIGINT', ignore);
    // Readline closes on Ctrl-D at an empty line and at the end of input: the session is over either way.
    // This listener outlives the prompt's effects and goes at close.
    const onClose = AsyncResource.bind(() => {
      rl.removeListener('close', onClose);
      finish.current({ kind: 'exit' }); // no effect once the line was answered
    });
    rl.on('close', onClose);
    const refreshMs = config.refreshMs ?? 0;
    const timer = refreshMs > 0 ? setInterval(AsyncResource.bind(() => setPromptText(config.prompt())), refreshMs) : undefined;
    timer?.unref();
    return () => {
      clearInterval(timer);
      rl.removeListener('SIGINT', ignore);
    };
  }, []);

  useKeypress(async (key: KeypressEvent, rl) => {
    if (status !== 'idle') return;
    const replaceLine = (text: string) => {
      rl.clearLine(0);
      rl.write(text);
      setLine(text);
    };
    if (search) {
      const history = config.history;
      const match = search.at >= 0 ? history[search.at]! : '';
      if (isEnterKey(key)) {
        setSearch(null);
        setLine(match || search.before);
        setStatus('done');
        done({ kind: 'line', line: match || search.before });
      } else if (key.ctrl && key.name === 'r') {
        const at = search.query === '' ? -1 : searchBack(history, search.query, search.at - 1);
        setSearch(at >= 0 ? { ...search, at, failed: false } : { ...search, failed: true });
      } else if (key.ctrl && key.name === 'c') {
        setSearch(null);
        replaceLine(search.before);
      } else if (key.name === 'escape' || (key.ctrl && key.name === 'g') || ['left', 'right', 'up', 'down', 'tab', 'home', 'end'].includes(key.name ?? '')) {
        setSearch(null);
        replaceLine(match || search.before);
      } else if (rl.line !== search.query) {
        // The query changed: the match shown stays if it still matches, else the newest one that does.
        const query = rl.line;
        const at = query === '' ? -1 : searchBack(history, query, search.at >= 0 && query.startsWith(search.query) ? search.at : history.length - 1);
        setSearch({ ...search, query, at: at >= 0 || query === '' ? at : search.at, failed: at < 0 && query !== '' });
      }
      return;
    }
    if (key.ctrl && key.name === 'r') {
      setListing(null);
      setSearch({ query: '', at: -1, failed: false, before: rl.line });
      rl.clearLine(0);
      return;
    }
    if (isEnterKey(key)) {
      setStatus('done');
      setListing(null);
      done({ kind: 'line', line });
    } else if (key.ctrl && key.name === 'c') {
      if (line === '' && rl.line === '') {
        setStatus('done');
        done({ kind: 'exit' });
        return;
      }
      position.current = config.history.length;
      setListing(null);
      replaceLine('');
    } else if (isUpKey(key) || isDownKey(key)) {
      const history = config.history;
      const next = Math.max(0, Math.min(history.length, position.current + (isUpKey(key) ? -1 : 1)));
      if (next === position.current) return; // already at the oldest line, or at the one being typed
      if (position.current === history.length) draft.current = rl.line;
      position.current = next;
      setListing(null);
      replaceLine(next === history.length ? draft.current : history[next]!);
    } else if (isTabKey(key)) {
      // Readline has inserted the tab character at the cursor: take it out, then complete the text before it.
      const cursor = (rl as unknown as { cursor: number }).cursor;
      const typed = rl.line.replace(/\t/g, '');
      if (cursor < rl.line.length) return replaceLine(typed); // completion works at the end of the line only
      const target = completionTarget(typed);
      const lookup = target.kind === 'key' ? config.lookupKeys(target.prefix).catch(() => null) : Promise.resolve(null);
      holdTypeAhead(rl, lookup); // keys typed after Tab apply to the completed line
      const found = await lookup;
      if (rl.line.replace(/\t/g, '') !== typed) return; // typed on meanwhile: this answer is stale
      const result = complete(typed, found?.keys ?? [], found?.truncated ?? false);
      replaceLine(result.line);
      setListing(result.candidates.length > 1 || found?.truncated ? listCandidates(result.candidates, target.kind === 'key', found?.truncated ?? false, config.maxListed ?? 40) : null);
    } else {
      setListing(null);
      setLine(rl.line);
    }
  });

  const paintLine = config.style?.line ?? ((text: string) => text);
  const paintList = config.style?.candidates ?? ((text: string) => text);
  const text = status === 'done' ? config.prompt() : promptText;
  if (search) {
    const shown = search.at >= 0 ? config.history[search.at]! : '';
    return `${search.failed ? '(failed reverse-i-search)' : '(reverse-i-search)'}'${search.query}': ${shown}`;
  }
  const content = `${text}${status === 'done' ? paintLine(line) : line}`;
  if (listing !== null) return [content, paintList(listing)];
  return [content, status === 'idle' ? hintAfter(line, stripVTControlCharacters(content), config) : ''];
});

const CSI = '\x1b[';

/**
 * The hint, drawn after the line. Inquirer puts the cursor at the end of what the prompt draws on the line, so the
 * hint goes in the content under it: up one line, to the column after the line, the hint, and back down.
 */
function hintAfter(line: string, shown: string, config: LinePromptConfig): string {
  if (!config.hint || !/^[\x20-\x7e]*$/.test(shown)) return ''; // wide or control characters: no reliable column
  const hint = fitHint(config.hint(line), (config.columns?.() ?? 80) - shown.length - 1);
  if (hint === '') return '';
  const paint = config.style?.hint ?? ((text: string) => text);
  return `${CSI}1A${CSI}${shown.length + 1}G${paint(hint)}${CSI}1B`;
}

/** The candidates as one wrapped paragraph, keys quoted as they would be typed, cut at `max`. */
function listCandidates(candidates: readonly string[], areKeys: boolean, truncated: boolean, max: number): string {
  const shown = candidates.slice(0, max).map((candidate) => (areKeys ? quoteWord(candidate) : candidate));
  const more = truncated ? '  … and more: keep typing to narrow' : candidates.length > max ? `  … and ${candidates.length - max} more` : '';
  return `${shown.join('  ')}${more}`;
}
