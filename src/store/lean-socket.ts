/**
 * A TCP client socket made directly on Node's TCP handle (the `tcp_wrap` binding that node:net itself is built on),
 * with just the part of net.Socket that memjs and the cache modules use: connect, write, cork, end, destroy, an idle
 * timeout, keep-alive, and the events connect, data, end, error, timeout and close, in net.Socket's order.
 *
 * Why: a one-shot command is mostly start-up, and node:net costs it ~8 ms before memcached has answered once —
 * loading net and the stream classes under it (~3.5 ms), then running their connect, write and read code for the
 * first time (Node's built-in code cache holds only each module's top level, so every function a socket calls is
 * parsed and compiled then). The same connect, write and read on the handle cost ~0.5 ms
 * (docs/architecture.md, "Start-up"). So one-shot processes give memjs this socket (memjs-net.ts); the REPL,
 * batch and serve keep node:net, whose write queue and back-pressure their traffic needs.
 *
 * The handle comes from bindings.ts, which checks it is there and as expected; when it is not, leanConnect returns
 * null and memjs gets node:net's socket.
 */
import { EventEmitter } from 'node:events';
import { getSystemErrorName } from 'node:util';
import { tcpBindings, type TcpBindings, type TcpHandle } from '../bindings.js';

/** An error as node:net makes it: "connect ECONNREFUSED 127.0.0.1:11211", with code, errno and syscall. */
function socketError(status: number, syscall: string, where = ''): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = `UNKNOWN (${status})`;
  }
  const error: NodeJS.ErrnoException = new Error(`${syscall} ${code}${where ? ` ${where}` : ''}`);
  error.code = code;
  error.errno = status;
  error.syscall = syscall;
  return error;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Connects a LeanSocket to an IP address; `listener` runs on connect, as net.connect's does. Null when the host
 * is a name (resolving it is node:net's job) or the bindings are missing or refuse the address: use node:net.
 */
export function leanConnect(port: number, host: string, listener?: () => void): LeanSocket | null {
  const found = tcpBindings();
  const v4 = IPV4.test(host);
  if (!found || !(v4 || host.includes(':')) || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
  const socket = new LeanSocket(found);
  return socket.connect(port, host, v4, listener) ? socket : null;
}

const ignoreRead = (): void => undefined;

export class LeanSocket extends EventEmitter {
  connecting = true;
  destroyed = false;
  private readonly handle: TcpHandle;
  /** Writes made before the connection is up, or while corked. */
  private queued: Uint8Array[] = [];
  private corks = 0;
  /** end() was called: no more writes; the FIN goes once what is queued is out. */
  private ended = false;
  /** Our FIN is out. */
  private shutDown = false;
  /** The peer's FIN came. */
  private readEnded = false;
  private keepAlive: [boolean, number] | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly b: TcpBindings) {
    super();
    this.handle = new b.TCP(b.socketType);
  }

  /** False when the handle refused the address at once (the socket is then closed, and nothing is emitted). */
  connect(port: number, host: string, v4: boolean, listener?: () => void): boolean {
    const request = new this.b.TCPConnectWrap();
    request.oncomplete = (status) => this.connected(status, `${host}:${port}`);
    const status = v4 ? this.handle.connect(request, host, port) : this.handle.connect6(request, host, port);
    if (status !== 0) {
      this.destroyed = true;
      this.handle.close(() => undefined);
      return false;
    }
    if (listener) this.once('connect', listener);
    return true;
  }

  write(data: Uint8Array | string): boolean {
    // As net: nothing is told after close; a write after end() destroys the socket with an error (told after the
    // handle has closed, so after this call returns).
    if (this.destroyed) return false;
    if (this.ended) {
      this.destroy(Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' }));
      return false;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.connecting || this.corks > 0) this.queued.push(bytes);
    else this.send(bytes);
    return true;
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks > 0 && --this.corks === 0 && !this.connecting) this.flush();
  }

  /**
   * Sends what is queued, then the FIN once pending writes are out; as net (allowHalfOpen off), the socket closes
   * when the peer's FIN has come too.
   */
  end(): this {
    if (this.ended || this.destroyed) return this;
    this.ended = true;
    this.corks = 0;
    // Before the connection is up, connected() sends the queue and then the FIN.
    if (!this.connecting) {
      this.flush();
      this.shutdown();
    }
    return this;
  }

  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.connecting = false;
    this.queued = [];
    this.clearIdleTimer();
    // Never null: the handle's setter takes a function only (Node aborts on anything else).
    this.handle.onread = ignoreRead;
    this.handle.close(() => {
      if (error) this.emit('error', error);
      this.emit('close', error !== undefined);
    });
    return this;
  }

  /** As net.Socket: 'timeout' after `ms` without reading or writing (0 turns it off); it does not close anything. */
  setTimeout(ms: number, listener?: () => void): this {
    if (this.destroyed) return this; // as net: a closed socket has no timeout
    this.clearIdleTimer();
    if (ms === 0) {
      if (listener) this.removeListener('timeout', listener);
      return this;
    }
    if (listener) this.once('timeout', listener);
    // Kept after it fires: activity then starts it again (touch), as net's does.
    this.idleTimer = setTimeout(() => this.emit('timeout'), ms);
    this.idleTimer.unref(); // as net's: the timer alone never keeps the process alive
    return this;
  }

  setKeepAlive(enable = false, initialDelayMs = 0): this {
    this.keepAlive = [enable, Math.floor(initialDelayMs / 1000)];
    if (!this.connecting && !this.destroyed) this.handle.setKeepAlive(...this.keepAlive);
    return this;
  }

  private connected(status: number, where: string): void {
    if (this.destroyed) return;
    if (status !== 0) return void this.destroy(socketError(status, 'connect', where));
    this.connecting = false;
    if (this.keepAlive) this.handle.setKeepAlive(...this.keepAlive);
    this.handle.onread = (buffer) => this.read(buffer);
    const started = this.handle.readStart();
    if (started !== 0) return void this.destroy(socketError(started, 'read'));
    this.touch();
    // What was written (and ended) before the connection was up goes first, as net's queued writes do.
    if (this.corks === 0) this.flush();
    if (this.ended) this.shutdown();
    if (!this.destroyed) this.emit('connect');
  }

  private read(buffer: ArrayBuffer | undefined): void {
    const { state } = this.b;
    const count = state[this.b.readBytesOrError]!;
    if (count > 0 && buffer) {
      this.touch();
      this.emit('data', Buffer.from(buffer, state[this.b.arrayBufferOffset]!, count));
    } else if (count === this.b.eof) {
      // The peer closed its side. As net with allowHalfOpen off: 'end', then this side ends too, and once both
      // have, the socket closes.
      this.readEnded = true;
      this.emit('end');
      if (!this.ended) this.end();
      else if (this.shutDown) this.destroy();
    } else if (count < 0) {
      this.destroy(socketError(count, 'read'));
    }
  }

  private flush(): void {
    if (this.queued.length === 0) return;
    const data = this.queued.length === 1 ? this.queued[0]! : Buffer.concat(this.queued);
    this.queued = [];
    this.send(data);
  }

  private send(data: Uint8Array): void {
    const request = new this.b.WriteWrap();
    request.handle = this.handle;
    request.buffer = data;
    request.oncomplete = (status) => {
      request.buffer = null;
      if (status < 0) this.destroy(socketError(status, 'write'));
      else this.touch();
    };
    const status = this.handle.writeBuffer(request, data);
    if (status !== 0) return void this.destroy(socketError(status, 'write'));
    if (this.b.state[this.b.lastWriteWasAsync] === 0) {
      request.buffer = null; // written at once: oncomplete will not be called
      this.touch();
    }
  }

  private shutdown(): void {
    if (this.destroyed) return;
    const request = new this.b.ShutdownWrap();
    request.handle = this.handle;
    const done = () => {
      this.shutDown = true;
      if (this.readEnded) this.destroy();
    };
    request.oncomplete = done;
    const status = this.handle.shutdown(request);
    // 1: done at once; another non-zero status is an error (the connection is gone): close.
    if (status === 1) done();
    else if (status !== 0) this.destroy();
  }

  /** Activity restarts the idle timeout, as net's does on every read and write. */
  private touch(): void {
    this.idleTimer?.refresh();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
