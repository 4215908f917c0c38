/**
 * A memcached of a test's own that the test can break on purpose (the shared one from global setup must never be
 * paused or killed): frozen with SIGSTOP (it accepts connections and never answers, keeping its copies in memory),
 * thawed with SIGCONT, killed and brought back empty on the same port, or emptied with `flush_all`.
 *
 *   const memcached = await FaultyMemcached.start();   memcached.address for the pool; stop() after the file
 */
import { Socket } from 'node:net';
import { startMemcached, type MemcachedServer } from './memcached.js';

export type MemcachedState = 'up' | 'paused' | 'dead';

export class FaultyMemcached {
  state: MemcachedState = 'up';

  private constructor(private server: MemcachedServer) {}

  static async start(): Promise<FaultyMemcached> {
    return new FaultyMemcached(await startMemcached());
  }

  get address(): string {
    return this.server.address;
  }

  pause(): void {
    this.server.process.kill('SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    this.server.process.kill('SIGCONT');
    this.state = 'up';
  }

  async kill(): Promise<void> {
    if (this.state === 'paused') this.resume(); // SIGKILL ends a stopped process too; thawed first, the states stay simple
    await this.server.stop();
    this.state = 'dead';
  }

  /** A new, empty memcached at the same address. */
  async restart(): Promise<void> {
    this.server = await startMemcached(this.server.port);
    this.state = 'up';
  }

  /** Every item gone at once (`flush_all` over the text protocol). */
  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      let reply = '';
      socket.once('error', reject);
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1');
        if (!reply.endsWith('\r\n')) return;
        socket.destroy();
        if (reply.startsWith('OK')) resolve();
        else reject(new Error(`flush_all answered ${JSON.stringify(reply)}`));
      });
      socket.connect(this.server.port, '127.0.0.1', () => socket.write('flush_all\r\n'));
    });
  }

  /** Back to a running server, whatever was done to it. */
  async heal(): Promise<void> {
    if (this.state === 'paused') this.resume();
    if (this.state === 'dead') await this.restart();
  }

  async stop(): Promise<void> {
    await this.heal();
    await this.server.stop();
    this.state = 'dead';
  }
}
