// Starts real memcached servers on free loopback ports for tests. Plain JavaScript so that jest's global setup
// (which runs outside the TypeScript transform) and the tests share it; types in memcached.d.mts.
import { spawn, spawnSync } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export function memcachedBinary() {
  const found = spawnSync('sh', ['-c', 'command -v memcached'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    throw new Error('memcached is not installed. Install it with: apt-get update && apt-get install -y memcached');
  }
  return found;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts memcached (on `port` when given, to bring a stopped server back at the same address). */
export async function startMemcached(port) {
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
      new Promise((resolve) => {
        if (stopped || child.exitCode !== null) return resolve();
        stopped = true;
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function waitForPort(port) {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
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
