/** The REPL's own settings, from the environment (the global options come from config.ts as for every mode). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../config.js';

export interface ReplSettings {
  /** null: no history file (TBASE_HISTORY set to nothing or `off`). */
  historyPath: string | null;
  historySize: number;
  /** TBASE_HISTORY_REDACT=1: `set` lines are remembered without their value. */
  redactValues: boolean;
}

const DEFAULT_HISTORY_SIZE = 1000;

export function replSettings(env: Env): ReplSettings {
  const size = Number(env.TBASE_HISTORY_SIZE);
  return {
    historyPath: historyPath(env),
    historySize: Number.isSafeInteger(size) && size > 0 ? size : DEFAULT_HISTORY_SIZE,
    redactValues: ['1', 'true', 'yes', 'on'].includes((env.TBASE_HISTORY_REDACT ?? '').toLowerCase()),
  };
}

/** TBASE_HISTORY, else `$XDG_STATE_HOME/tenantbase/history` (`~/.local/state/…` when unset). */
function historyPath(env: Env): string | null {
  const chosen = env.TBASE_HISTORY;
  if (chosen !== undefined) return chosen === '' || chosen.toLowerCase() === 'off' ? null : chosen;
  const stateHome = env.XDG_STATE_HOME || join(env.HOME ?? homedir(), '.local', 'state');
  return join(stateHome, 'tenantbase', 'history');
}
