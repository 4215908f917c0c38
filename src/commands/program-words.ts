/**
 * The words of the one-shot program beyond the command table: the global options, and the commands that are not
 * table commands because they are not run by one (batch and serve are modes of their own, help prints help).
 * program.ts declares them to commander from here and shell completion reads them, so the two cannot drift.
 */
import { DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV } from '../serve/options.js';
import type { CommandWords, OptionSpec } from './types.js';

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { flags: '--db <path|url>', description: 'SQLite database file, or postgres://user@host:port/db (env TBASE_DB)' },
  { flags: '--servers <host:port,…>', description: 'memcached servers (env TBASE_SERVERS, MEMCACHE_SERVERS)' },
  { flags: '--no-cache', description: 'bypass memcached (env TBASE_NO_CACHE=1)' },
  { flags: '--json', description: 'print JSON (batch: one JSON object per command)' },
  { flags: '--bail', description: 'batch: stop at the first command that fails' },
  { flags: '--verbose', description: 'with --version: also print the SQLite and Node versions' },
];

/** commander's own: `.version()` takes these, and every command gets `-h, --help`. */
export const VERSION_OPTION: OptionSpec = { flags: '-V, --version', description: 'print the version' };
export const HELP_OPTION: OptionSpec = { flags: '-h, --help', description: 'display help for command' };

export const batchWords: CommandWords = {
  name: 'batch',
  summary: 'run commands from FILE (or - for stdin), one per line',
  args: [{ name: 'file', required: false, description: 'file of commands; - or nothing reads stdin' }],
  options: [{ flags: '--bail', description: 'stop at the first command that fails' }],
};

export const serveWords: CommandWords = {
  name: 'serve',
  summary: 'HTTP API and monitoring page over the same store',
  args: [],
  options: [
    { flags: '--host <host>', description: `address to bind (default ${DEFAULT_HOST}; anything but loopback needs ${TOKEN_ENV})` },
    { flags: '--port <port>', description: `port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)` },
  ],
};

export const helpWords: CommandWords = {
  name: 'help',
  summary: 'show help for a command (the same as <command> --help)',
  args: [{ name: 'command', required: false, description: 'the command; nothing: the overview' }],
  options: [],
};
