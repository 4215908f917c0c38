/** Runs the built bin with stdout on a real pseudo-terminal (util-linux `script`), for human-mode output. */
import { spawnSync } from 'node:child_process';
import { BIN } from './tbase.js';

export function runInTerminal(args: string[], env: Record<string, string | undefined>): { code: number | null; screen: string } {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const merged: Record<string, string | undefined> = { ...process.env, TERM: 'xterm-256color', NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const result = spawnSync('script', ['-qefc', quoted, '/dev/null'], { env: merged as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 20000 });
  return { code: result.status, screen: result.stdout.replace(/\r\n/g, '\n') };
}

// eslint-disable-next-line no-control-regex
export const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');
