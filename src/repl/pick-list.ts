/**
 * The guided pick-list of keys (`get` or `delete` alone): type to narrow by prefix, ↑/↓ to move, Enter to pick,
 * Tab to take the highlighted key into the filter. Inquirer's own `search` prompt drops an Enter pressed while
 * its matches load, and keys typed ahead then land in the filter; here an Enter pressed while loading waits for
 * the matches of what was typed (holding the keys typed after it) and then picks the key typed, if it exists,
 * else the first match. With no match the Enter is dropped and "No results found" says why.
 */
import { createPrompt, isDownKey, isEnterKey, isTabKey, isUpKey, makeTheme, useEffect, useKeypress, usePagination, usePrefix, useRef, useState } from '@inquirer/core';
import { styleText } from 'node:util';
import { holdTypeAhead } from './keyboard.js';

export interface PickListConfig {
  message: string;
  /** The keys starting with a typed prefix (bounded), in the store's order. */
  source: (prefix: string) => Promise<string[]>;
  /** How a key is shown (escaped, for keys holding control characters). */
  label?: (key: string) => string;
  pageSize?: number;
}

interface Matches {
  prefix: string;
  keys: string[];
  error?: string;
}

export const pickList = createPrompt<string, PickListConfig>((config, done) => {
  const theme = makeTheme({});
  const label = config.label ?? ((key: string) => key);
  const [status, setStatus] = useState<'loading' | 'idle' | 'done'>('loading');
  const [typed, setTyped] = useState('');
  const [matches, setMatches] = useState<Matches>({ prefix: '', keys: [] });
  const [active, setActive] = useState(0);
  const [picked, setPicked] = useState('');
  // An Enter that came while the matches loaded: it is answered when they arrive (and frees the keys after it).
  const pendingEnter = useRef<(() => void) | null>(null);
  const prefix = usePrefix({ status, theme });

  const pick = (key: string) => {
    setPicked(key);
    setStatus('done');
    done(key);
  };

  useEffect(() => {
    let current = true;
    setStatus('loading');
    config.source(typed).then(
      (keys) => arrived({ prefix: typed, keys }),
      (error: Error) => arrived({ prefix: typed, keys: [], error: error.message }),
    );
    function arrived(found: Matches) {
      if (!current) return; // typed on meanwhile: the newer lookup answers
      const exact = found.keys.indexOf(found.prefix);
      setMatches(found);
      setActive(Math.max(0, exact));
      setStatus('idle');
      const enter = pendingEnter.current;
      pendingEnter.current = null;
      if (enter && found.keys.length > 0) pick(found.keys[Math.max(0, exact)]!);
      enter?.();
    }
    return () => {
      current = false;
    };
  }, [typed]);

  useKeypress((key, rl) => {
    if (status === 'done') return;
    const setLine = (text: string) => {
      rl.clearLine(0);
      rl.write(text);
    };
    if (isEnterKey(key)) {
      setLine(typed); // readline emptied its line on Enter; the filter stays as typed
      if (status === 'loading') {
        holdTypeAhead(rl, new Promise<void>((resolve) => (pendingEnter.current = resolve)));
      } else if (matches.keys.length > 0) {
        pick(matches.keys[active]!);
      }
    } else if (isTabKey(key)) {
      const chosen = status === 'idle' ? matches.keys[active] : undefined;
      setLine(chosen ?? typed);
      if (chosen !== undefined) setTyped(chosen);
    } else if (isUpKey(key) || isDownKey(key)) {
      setLine(typed); // readline's own ↑/↓ would walk its history into the filter
      if (status === 'idle' && matches.keys.length > 0) {
        setActive(Math.max(0, Math.min(matches.keys.length - 1, active + (isUpKey(key) ? -1 : 1))));
      }
    } else if (rl.line !== typed) {
      setTyped(rl.line);
    }
  });

  const page = usePagination({
    items: matches.keys,
    active,
    renderItem: ({ item, isActive }) => (isActive ? theme.style.highlight(`❯ ${label(item)}`) : `  ${label(item)}`),
    pageSize: config.pageSize ?? 7,
    loop: false,
  });
  const message = theme.style.message(config.message, status);
  if (status === 'done') return `${prefix} ${message} ${theme.style.answer(label(picked))}`;
  let body = page;
  if (matches.error) body = theme.style.error(matches.error);
  else if (matches.keys.length === 0 && status === 'idle') body = theme.style.error(typed === '' ? 'No keys' : 'No results found');
  const help = `${styleText('bold', '↑↓')} ${styleText('dim', 'navigate')}${styleText('dim', ' • ')}${styleText('bold', '⏎')} ${styleText('dim', 'select')}`;
  return [`${prefix} ${message} ${typed}`.trimEnd(), `${body}\n \n${help}`];
});
