// The HTTP rows of `npm run bench` (scripts/bench.js): `tbase serve` under wrk beside a minimal Node `http` server
// answering a constant, loaded the same way in the same run (the floor of any Node HTTP server on this machine).
//
//   12a  GET /keys/hot, one key, cache hit            vs the minimal server; requests/s
//   12b  GET /keys/k{0..999}, mostly cache hits        vs the minimal server; requests/s
//   12c  PUT /keys/k{0..999}, durable (fsync)          vs the minimal server; requests/s
//   12d  p99 latency of 12a's load                     vs the minimal server's p99 under the same load
//   12e  p99 latency of 12c's load                     vs the same
//
// wrk -t2 -c32 for WRK_SECONDS (default 5) a run, each side RUNS times, alternated; the ratio is the median of the
// pairs' ratios (bench/lib.js alternate). Skipped when wrk (Debian package wrk) is not installed.
// Alone: `node bench/serve-rows.js` (BENCH_RUNS, WRK_SECONDS), after `npm run build`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startMemcached } from '../__tests__/helpers/memcached.mjs';
import { alternate, check, liveProcess, row, runProcess, sleep, table, until, writeLines } from './lib.js';

const WRK = process.env.WRK ?? 'wrk';
const CONNECTIONS = 32;
const KEYS = 1000;

export function wrkAvailable() {
  return spawnSync(WRK, ['--version'], { encoding: 'utf8' }).error === undefined;
}

/** `b`: RUNS, dir, node, bin, memcached, log (from scripts/bench.js). */
export async function serveRows(b) {
  const seconds = Number(process.env.WRK_SECONDS ?? 5);
  const db = join(b.dir, 'serve.db');
  const serve = liveProcess(b.node, [b.bin, '--db', db, '--servers', b.memcached.address, 'serve', '--port', '0']);
  const minimal = liveProcess(b.node, ['-e', MINIMAL_SERVER]);
  try {
    await until(() => /serving http:\/\/[^/]+\//.test(serve.stderr()), 15_000, `tbase serve to listen (stderr: ${serve.stderr()})`);
    await until(() => minimal.lines.length > 0, 15_000, 'the minimal server to listen');
    const serveUrl = /serving (http:\/\/[^/]+)\//.exec(serve.stderr())[1];
    const minimalUrl = minimal.lines[0];

    // Setup, outside the timing: the keys exist (one batch), and after the tombstones of those writes expire,
    // reads fill the cache.
    const setupFile = join(b.dir, 'serve-setup.txt');
    writeLines(setupFile, KEYS + 1, (i) => (i === KEYS ? 'set hot "hot value"\n' : `set k${i} value-${i}\n`));
    check(await runProcess(b.node, [b.bin, '--db', db, '--servers', b.memcached.address], { inputFile: setupFile }), 'serve setup batch', (r) => r.lines === KEYS + 1);
    const scripts = writeScripts(b.dir);
    b.log('serve: waiting 3.2 s for the setup writes\' tombstones to expire');
    await sleep(3200);
    await wrk(serveUrl, '/keys/hot', scripts.rotateGet, 1);

    const rows = [];
    const load = async (name, path, script) => {
      b.log(`serve ${name}: wrk -t2 -c${CONNECTIONS} -d${seconds}s, ${b.RUNS} runs each side`);
      const ours = [];
      const base = [];
      const pairs = await alternate(
        b.RUNS,
        async () => {
          const r = await wrk(serveUrl, path, script, seconds);
          ours.push(r);
          return r.rps;
        },
        async () => {
          const r = await wrk(minimalUrl, path, null, seconds);
          base.push(r);
          return r.rps;
        },
      );
      const p99 = await alternateLatency(ours, base);
      return { pairs, p99 };
    };
    const hot = await load('GET one hot key', '/keys/hot', null);
    const spread = await load(`GET ${KEYS} keys`, '/keys/k0', scripts.rotateGet);
    const puts = await load(`PUT ${KEYS} keys`, '/keys/k0', scripts.rotatePut);
    const rps = (id, name, m, target, meets) => row(id, name, m.pairs.ours, 'minimal Node http server, same load', m.pairs.baseline, 'req/s', target, meets, m.pairs.pairRatio);
    rows.push(rps('12a', `serve \`GET\` one hot key (cache hit), ${CONNECTIONS} connections`, hot, '≥ 0.5×', (r) => r >= 0.5));
    rows.push(rps('12b', `serve \`GET\` ${KEYS} keys (mostly hits), ${CONNECTIONS} connections`, spread, '–', null));
    rows.push(rps('12c', `serve \`PUT\` ${KEYS} keys (durable), ${CONNECTIONS} connections`, puts, '≥ 0.25×', (r) => r >= 0.25));
    const lat = (id, name, m) => row(id, name, m.p99.ours, "the minimal server's p99, same load", m.p99.baseline, 'ms', '≤ 20 ms', () => m.p99.ours <= 20);
    rows.push(lat('12d', `serve \`GET\` hot key p99 latency at that load`, hot));
    rows.push(lat('12e', `serve \`PUT\` p99 latency at that load`, puts));
    const health = await (await fetch(`${serveUrl}/health`)).json();
    return { rows, rounds: health.rounds };
  } finally {
    await Promise.all([serve.stop('SIGTERM'), minimal.stop('SIGTERM')]);
  }
}

/** The median of each side's p99 over its runs. */
function alternateLatency(ours, base) {
  const med = (runs) => runs.map((r) => r.p99Ms).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  return { ours: med(ours), baseline: med(base) };
}

// The floor: Node's http module answering every request with a constant, nothing else. Prints its URL.
const MINIMAL_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('constant value'));
});
server.listen(0, '127.0.0.1', () => console.log('http://127.0.0.1:' + server.address().port));
`;

/** wrk Lua scripts: requests spread over KEYS keys (each connection its own sequence). */
function writeScripts(dir) {
  const rotate = (method) => `
local n = 0
request = function()
  n = n + 1
  local path = "/keys/k" .. ((n * 7919) % ${KEYS})
  ${method === 'PUT' ? 'return wrk.format("PUT", path, nil, "value-" .. n)' : 'return wrk.format("GET", path)'}
end
`;
  const file = (name, text) => {
    const path = join(dir, `${name}.lua`);
    writeFileSync(path, text);
    return path;
  };
  return { rotateGet: file('rotate-get', rotate('GET')), rotatePut: file('rotate-put', rotate('PUT')) };
}

/** One wrk run: requests/s and p99 latency (ms); non-2xx answers or socket errors fail the row. */
function wrk(baseUrl, path, script, seconds) {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', ...(script ? ['-s', script] : []), `${baseUrl}${path}`];
  return new Promise((resolve, reject) => {
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
      const bad = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
      if (code !== 0 || !rps || !p99) return reject(new Error(`wrk ${args.join(' ')} failed:\n${out}`));
      if (bad) return reject(new Error(`wrk ${args.join(' ')}: ${bad[0]}\n${out}`));
      const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2]];
      resolve({ rps: Number(rps[1]), p99Ms: Number(p99[1]) * scale });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!wrkAvailable()) {
    console.error('serve rows: wrk is missing. Install it with: apt-get install -y wrk');
    process.exit(2);
  }
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'tbase-bench-serve-'));
  const memcached = await startMemcached();
  try {
    const runs = Number(process.env.BENCH_RUNS ?? 3);
    const { rows, rounds } = await serveRows({ RUNS: runs, dir, node: process.execPath, bin: join(root, 'bin', 'tbase'), memcached, log: (text) => process.stderr.write(`bench: ${text}\n`) });
    console.log(`tbase bench, serve rows — Node ${process.version}, medians of ${runs} runs; serve's rounds: ${JSON.stringify(rounds)}`);
    console.log(table(rows));
  } finally {
    await memcached.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
