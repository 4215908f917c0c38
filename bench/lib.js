// Helpers for `npm run bench` (scripts/bench.js): processes timed whole, peak memory, medians, the table.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, rmSync } from 'node:fs';

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
  return { ours: median(a), baseline: median(b), pairRatio: median(a.map((x, i) => x / b[i])), oursAll: a, baselineAll: b };
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
        `${row.ratio.toFixed(2)}× | ${row.target} | ${row.met === null ? '–' : row.met ? 'yes' : 'no'} |`,
    );
  }
  return out.join('\n');
}

function fmt(value, unit) {
  if (unit === 'ms') return `${value.toFixed(0)} ms`;
  if (unit === 'ops/s') return `${Math.round(value).toLocaleString('en-US')}/s`;
  if (unit === 'MiB') return `${value.toFixed(1)} MiB`;
  return `${value} ${unit}`;
}
