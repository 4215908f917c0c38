// One real memcached for the whole run; its address reaches every test through TBASE_TEST_SERVERS.
// One PostgreSQL template cluster for the whole run (initdb takes about a second; copying it a tenth of that);
// its path reaches every startPostgres through TBASE_TEST_PG_TEMPLATE.
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMemcached } from './memcached.mjs';
import { makeTemplate, postgresAvailable } from './postgres.mjs';

export default async function globalSetup() {
  const [server] = await Promise.all([startMemcached(), makePostgresTemplate()]);
  process.env.TBASE_TEST_SERVERS = server.address;
  globalThis.__memcached = server;
}

async function makePostgresTemplate() {
  if (!postgresAvailable()) {
    // Locally the PostgreSQL tests skip themselves; CI must not silently skip them.
    if (process.env.CI) {
      throw new Error('PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin): CI must run the PostgreSQL tests. Install it with: apt-get install -y postgresql');
    }
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'tbase-pg-template-'));
  // As root the cluster belongs to nobody, who must be able to reach it (and cp -a keeps that owner in the copies).
  chmodSync(root, 0o755);
  globalThis.__pgTemplateRoot = root;
  const template = join(root, 'template');
  await makeTemplate(template);
  process.env.TBASE_TEST_PG_TEMPLATE = template;
}
