/** Temp folders and databases, removed after the test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tbase-test-'));
  made.push(dir);
  return dir;
}

export function tempDbPath(): string {
  return join(tempDir(), 'data', 'tbase.db');
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function testServers(): string {
  const servers = process.env.TBASE_TEST_SERVERS;
  if (!servers) throw new Error('TBASE_TEST_SERVERS is not set: run the tests through jest (global setup starts memcached)');
  return servers;
}
