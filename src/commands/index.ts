/** The one command table: commander (one-shot), the REPL and batch are all built from it. */
import type { CommandSpec } from './types.js';
import { setCommand } from './set.js';
import { getCommand } from './get.js';
import { deleteCommand } from './delete.js';
import { listCommand } from './list.js';
import { statsCommand } from './stats.js';
import { ttlCommand } from './ttl.js';
import { exportCommand } from './export.js';
import { importCommand } from './import.js';
import { cacheCommand } from './cache.js';
import { decrCommand, incrCommand } from './incr.js';
import { watchCommand } from './watch.js';
import { lockCommand } from './lock.js';
import { completionCommand } from './completion.js';

export const commands: CommandSpec<any>[] = [
  setCommand,
  getCommand,
  deleteCommand,
  incrCommand,
  decrCommand,
  listCommand,
  statsCommand,
  ttlCommand,
  exportCommand,
  importCommand,
  cacheCommand,
  watchCommand,
  lockCommand,
  completionCommand,
];
