/**
 * The one module that touches Node's internal bindings (process.binding): the TCP handle node:net is built on
 * (store/lean-socket.ts) and the terminal check node:tty makes. A one-shot command uses them instead of node:net and
 * node:tty, which would cost it ~8 ms of its start-up to load and run for the first time (docs/architecture.md,
 * "Start-up").
 *
 * process.binding is deprecated (DEP0111, in the documentation only) and out of @types/node, but Node 20 still
 * gives these bindings. Nothing here is relied on before it is checked: each getter returns null when a binding is
 * missing or not as expected, or when process.binding would print a deprecation warning (--pending-deprecation
 * wraps it), and the callers then use node:net and node:tty.
 */
import { types } from 'node:util';

/** Node's TCP handle: the calls lean-socket.ts makes (src/tcp_wrap.cc, src/stream_base.cc). */
export interface TcpHandle {
  connect(request: object, address: string, port: number): number;
  connect6(request: object, address: string, port: number): number;
  readStart(): number;
  writeBuffer(request: object, data: Uint8Array): number;
  shutdown(request: object): number;
  close(callback: () => void): void;
  setKeepAlive(enable: boolean, delaySeconds: number): number;
  /** A function only: the handle's setter aborts the process on anything else. */
  onread: (buffer: ArrayBuffer | undefined) => void;
}

export interface ConnectRequest {
  oncomplete: (status: number) => void;
}

export interface WriteRequest {
  handle: TcpHandle;
  oncomplete: (status: number) => void;
  /** Held until the write completes (as net does), so the bytes are not collected under it. */
  buffer: Uint8Array | null;
}

export interface ShutdownRequest {
  handle: TcpHandle;
  oncomplete: (status: number) => void;
}

export interface TcpBindings {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectRequest;
  socketType: number;
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
  /** Where the handle leaves a read's byte count (or error) and offset, and whether a write went out at once. */
  state: Int32Array;
  readBytesOrError: number;
  arrayBufferOffset: number;
  lastWriteWasAsync: number;
  /** libuv's end-of-file status, as a read reports it. */
  eof: number;
}

// What process.binding returns is checked field by field below, not typed.
type Binding = (name: string) => any;

/** process.binding when it can be called without a warning; null otherwise. */
function quietBinding(): Binding | null {
  const binding = (process as unknown as { binding?: Binding }).binding;
  return typeof binding === 'function' && binding.name === 'binding' ? binding : null;
}

let tcp: TcpBindings | null | undefined;

export function tcpBindings(): TcpBindings | null {
  if (tcp !== undefined) return tcp;
  tcp = null;
  try {
    const binding = quietBinding();
    if (!binding) return null;
    const wrap = binding('tcp_wrap');
    const stream = binding('stream_wrap');
    const found: TcpBindings = {
      TCP: wrap.TCP,
      TCPConnectWrap: wrap.TCPConnectWrap,
      socketType: wrap.constants?.SOCKET,
      WriteWrap: stream.WriteWrap,
      ShutdownWrap: stream.ShutdownWrap,
      state: stream.streamBaseState,
      readBytesOrError: stream.kReadBytesOrError,
      arrayBufferOffset: stream.kArrayBufferOffset,
      lastWriteWasAsync: stream.kLastWriteWasAsync,
      eof: binding('uv').UV_EOF,
    };
    const complete =
      [found.TCP, found.TCPConnectWrap, found.WriteWrap, found.ShutdownWrap].every((made) => typeof made === 'function') &&
      types.isInt32Array(found.state) && // not instanceof: the array may come from another realm (jest's vm)
      [found.socketType, found.readBytesOrError, found.arrayBufferOffset, found.lastWriteWasAsync, found.eof].every(Number.isInteger);
    if (complete) tcp = found;
  } catch {
    // refused (a permission model, a Node without it): node:net then
  }
  return tcp;
}

/** Whether `fd` is a terminal, as node:tty's isatty answers (it asks the same binding); node:tty without the binding. */
export function isTerminal(fd: number): boolean {
  try {
    const tty = quietBinding()?.('tty_wrap');
    if (typeof tty?.isTTY === 'function') return tty.isTTY(fd) === true;
  } catch {
    // refused: node:tty then
  }
  return (process.getBuiltinModule('node:tty') as typeof import('node:tty')).isatty(fd);
}
