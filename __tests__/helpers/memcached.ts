/** Starts real memcached servers on free loopback ports for tests; the binary must be installed. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export interface MemcachedServer {
  address: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function memcachedBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v memcached'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    throw new Error('memcached is not installed. Install it with: apt-get update && apt-get install -y memcached');
  }
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts memcached (on `port` when given, to bring a stopped server back at the same address). */
export async function startMemcached(port?: number): Promise<MemcachedServer> {
  const bin = memcachedBinary();
  const chosen = port ?? (await freePort());
  const args = ['-l', '127.0.0.1', '-p', String(chosen), '-U', '0', '-m', '64'];
  if (process.getuid?.() === 0) args.push('-u', 'root');
  const child = spawn(bin, args, { stdio: 'ignore' });
  await waitForPort(chosen);
  let stopped = false;
  return {
    address: `127.0.0.1:${chosen}`,
    port: chosen,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (stopped || child.exitCode !== null) return resolve();
        stopped = true;
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`memcached did not start on port ${port}`);
}
