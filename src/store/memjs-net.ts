/**
 * What memjs's `require('net')` is in the bundle (scripts/bundle.js maps it here): memjs uses node:net for one call,
 * `net.connect(port, host, listener)` when it connects to a server. A process that runs one command and exits
 * (cli.ts, runOneShot) gets a LeanSocket (lean-socket.ts), which spares it loading node:net and the stream classes
 * at all; the REPL, batch and serve, and a server given by name, get node:net's socket, loaded on first use.
 */
import type { Socket } from 'node:net';
import { leanConnect } from './lean-socket.js';

let lean = false;

/** From now on memjs connects with a LeanSocket where it can. For a process that exits after one command. */
export function preferLeanSockets(): void {
  lean = true;
}

export function connect(port: number, host: string, listener?: () => void): Socket {
  const socket = lean ? leanConnect(Number(port), host, listener) : null;
  // Not an import: only this call may load node:net.
  return (socket as unknown as Socket | null) ?? (process.getBuiltinModule('node:net') as typeof import('node:net')).connect(port, host, listener);
}
