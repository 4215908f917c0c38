import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  await globalThis.__memcached?.stop();
  // Servers remove their own copies on stop (or, when a test forgets, when its jest worker exits).
  if (globalThis.__pgTemplateRoot) rmSync(globalThis.__pgTemplateRoot, { recursive: true, force: true });
}
