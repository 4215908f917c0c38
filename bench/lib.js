// Helpers for `npm run bench` (scripts/bench.js): processes timed whole, peak memory, medians, the table, and the
// live processes and event streams of the watch rows.
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { get } from 'node:http';
import { Socket } from 'node:net';

export const TIME_BIN = '/usr/bin/time';

/**
 * Runs a process with `inputFile` (or nothing) on stdin. Resolves to wall seconds, exit code, output line count,
 * the last output line, stderr, and the peak RSS in KiB when `measureRss` (via GNU time's %M, which reads the
 * kernel's high-water mark at exit; falls back to polling /proc/<pid>/status VmHWM when time is missing).
 * With `countLine` (a string), `counted` is how many output lines are exactly that string (else null).
 */
export function runProcess(command, args, { inputFile, measureRss = false, env, countLine } = {}) {
  const rssFile = measureRss && existsSync(TIME_BIN) ? `/tmp/tbase-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}` : null;
  const [cmd, argv] = rssFile ? [TIME_BIN, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: [inputFile ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let lines = 0;
    let tail = '';
    let stderr = '';
    let counted = countLine === undefined ? null : 0;
    let partial = '';
    let polledKiB = 0;
    const poll =
      measureRss && !rssFile
        ? setInterval(() => {
            try {
              const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
              if (m) polledKiB = Math.max(polledKiB, Number(m[1]));
            } catch {
              // gone
            }
          }, 10)
        : null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) lines++;
      tail = (tail + chunk).slice(-300);
      if (counted === null) return;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      for (const part of parts) if (part === countLine) counted++;
    });
    child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    if (inputFile) {
      const input = createReadStream(inputFile);
      input.pipe(child.stdin);
      child.stdin.on('error', () => undefined); // a child that exits early closes its stdin
    }
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (poll) clearInterval(poll);
      let rssKiB = polledKiB || null;
      if (rssFile) {
        try {
          rssKiB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
        } catch {
          rssKiB = null;
        }
        rmSync(rssFile, { force: true });
      }
      const last = tail.replace(/\n$/, '').split('\n').at(-1);
      if (counted !== null && partial === countLine) counted++; // a last line without LF
      resolve({ code, seconds, lines, last, stderr, rssKiB, counted });
    });
  });
}

/** Fails loudly: a benchmark of a command that did not do its work measures nothing. */
export function check(run, name, ok = () => true) {
  if (run.code !== 0 || !ok(run)) {
    throw new Error(`${name}: exit ${run.code}, ${run.lines} output lines, last ${JSON.stringify(run.last)}; stderr: ${run.stderr.slice(0, 800)}`);
  }
  return run;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs the measurements `ours()` and `baseline()` `runs` times each, alternating (so drift in machine load hits
 * both alike), and returns the median of each, and the median of the ratios of each pair run back to back. That
 * last is the row's ratio: on a machine whose speed shifts between runs (shared hosts here switch between a fast
 * and a slow mode for seconds at a time), a pair run together shares its mode, while two medians may each come from
 * a different mix of modes. Each call resolves to a number.
 */
export async function alternate(runs, ours, baseline) {
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, too.
    if (i % 2 === 0) {
      a.push(await ours(i));
      b.push(await baseline(i));
    } else {
      b.push(await baseline(i));
      a.push(await ours(i));
    }
  }
  const pairRatios = a.map((x, i) => x / b[i]);
  return { ours: median(a), baseline: median(b), pairRatio: median(pairRatios), pairRatios, oursAll: a, baselineAll: b };
}

/** The spread of a row's pair ratios, for the log: each one when they are few, else the range and quartiles. */
export function pairSpread({ pairRatios }) {
  const sorted = [...pairRatios].sort((x, y) => x - y);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(2);
  if (sorted.length <= 9) return `pair ratios ${pairRatios.map((r) => r.toFixed(2)).join(' ')}`;
  return `pair ratios from ${at(0)} to ${at(1)}, quartiles ${at(0.25)} and ${at(0.75)}`;
}

/** The value below which `p` percent of `values` fall (nearest rank). */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Calls `onLine(line, ms)` for every line of a readable stream; `ms` is performance.now() when its chunk came. */
export function onLines(stream, onLine) {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const at = performance.now();
    const parts = (partial + chunk).split('\n');
    partial = parts.pop();
    for (const line of parts) onLine(line, at);
  });
}

/**
 * A long-lived process whose stdout lines are collected as they come: `lines` (text) and `times` (performance.now()
 * at arrival). `stop(signal)` ends it and resolves with its exit code; stdin is a pipe (`write`, `end`).
 */
export function liveProcess(command, args, { env } = {}) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
  const lines = [];
  const times = [];
  let stderr = '';
  onLines(child.stdout, (line, at) => {
    lines.push(line);
    times.push(at);
  });
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  child.stdin.on('error', () => undefined);
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  return {
    child,
    lines,
    times,
    stderr: () => stderr,
    exited,
    /** Writes one line; resolves to performance.now() just before it was handed to the pipe. */
    write(line) {
      const at = performance.now();
      child.stdin.write(`${line}\n`);
      return at;
    },
    end() {
      child.stdin.end();
      return exited;
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The current and peak resident memory of a live process, in KiB (Linux /proc). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)[1]), peakKiB: Number(/VmHWM:\s+(\d+)/.exec(status)[1]) };
}

/**
 * Opens `GET url` as a Server-Sent Events stream; `onEvent({ id, event, data }, ms)` for each event (blocks with
 * data; `ms` as in onLines). Resolves once the first block (the stream's opening) arrived, with `close()`.
 */
export function openEventStream(url, onEvent) {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: status ${res.statusCode}`));
      }
      let text = '';
      let opened = false;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const at = performance.now();
        text += chunk;
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
          const block = {};
          for (const line of text.slice(0, end).split('\n')) {
            const colon = line.indexOf(':');
            if (colon > 0) block[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
          }
          text = text.slice(end + 2);
          if (!opened) {
            opened = true;
            resolve({ close: () => req.destroy() });
          }
          if (block.data !== undefined) onEvent(block, at);
        }
      });
    });
    req.on('error', reject);
  });
}

/** Polls `check` every few ms until it is true; throws after `timeoutMs` naming `what`. */
export async function until(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Formats the rows as a Markdown table. */
export function table(rows) {
  const out = [
    '| # | measurement | tbase | baseline | baseline is | ratio | target | met |',
    '|---|---|---:|---:|---|---:|---|:-:|',
  ];
  for (const row of rows) {
    out.push(
      `| ${row.id} | ${row.name} | ${fmt(row.ours, row.unit)} | ${fmt(row.baseline, row.unit)} | ${row.baselineName} | ` +
        `${row.ratioText} | ${row.target} | ${row.met === null ? '–' : row.met ? 'yes' : 'no'} |`,
    );
  }
  return out.join('\n');
}

function fmt(value, unit) {
  if (unit === 'ms') return `${value.toFixed(value < 10 ? 1 : 0)} ms`;
  if (unit === 'ops/s') return `${Math.round(value).toLocaleString('en-US')}/s`;
  if (unit === 'MiB') return `${value.toFixed(1)} MiB`;
  return `${value} ${unit}`;
}

export function writeLines(path, n, make) {
  const fd = openSync(path, 'w');
  let buffer = '';
  for (let i = 0; i < n; i++) {
    buffer += make(i);
    if (buffer.length > 1 << 20) {
      writeSync(fd, buffer);
      buffer = '';
    }
  }
  writeSync(fd, buffer);
  closeSync(fd);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Empties memcached (text protocol `flush_all`), so the next batch of gets finds nothing and fills. */
export function flushAll(port) {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.once('error', reject);
    socket.connect(port, '127.0.0.1', () => socket.write('flush_all\r\n'));
    socket.on('data', (data) => {
      if (data.toString().includes('OK')) {
        socket.destroy();
        resolve();
      }
    });
  });
}

/** A table row; `ratio` defaults to ours / baseline (the timed rows pass the median of their pairs' ratios). */
export function row(id, name, ours, baselineName, baseline, unit, target, meets, ratio = ours / baseline) {
  const met = meets ? meets(ratio) : null;
  return { id, name, ours, baseline, baselineName, unit, ratio, ratioText: ratioText(ratio, meets, met), target, met };
}

/**
 * A ratio with two decimals, or with as many more as it takes for the printed figure to tell the verdict `met` (1.2004
 * is not ≤ 1.2, and printed as 1.20 it would read as if it were).
 */
function ratioText(ratio, meets, met) {
  let digits = 2;
  while (meets && digits < 6 && meets(Number(ratio.toFixed(digits))) !== met) digits++;
  return `${ratio.toFixed(digits)}×`;
}
