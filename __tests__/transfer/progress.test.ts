/** The import/export progress bar: sizes in binary units when it counts bytes, only on a terminal. */
import { PassThrough } from 'node:stream';
import { IO } from '../../src/io.js';
import { formatBytes, startProgress, type ProgressUnit } from '../../src/transfer/progress.js';

test.each([
  [0, '0 B'],
  [1023, '1023 B'],
  [1024, '1.0 KiB'],
  [1536, '1.5 KiB'],
  [10 * 1024 + 100, '10.1 KiB'],
  [1024 * 1024 - 1, '1.0 MiB'], // 1023.999 KiB rounds to 1024.0: said in the next unit
  [1024 * 1024, '1.0 MiB'],
  [340.25 * 1024 * 1024, '340.3 MiB'],
  [1.5 * 1024 ** 3, '1.5 GiB'],
  [3 * 1024 ** 4, '3.0 TiB'],
  [2048 * 1024 ** 4, '2048.0 TiB'], // the largest unit goes on counting
])('%d bytes: %s', (bytes, shown) => {
  expect(formatBytes(bytes)).toBe(shown);
});

/** Everything the bar drew on a terminal stderr, from start to stop. */
function drawn(unit: ProgressUnit, total: number, added: number, isStderrTTY = true): string {
  const stderr = Object.assign(new PassThrough(), { isTTY: isStderrTTY, columns: 120 });
  let text = '';
  stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const io = new IO({ stdin: new PassThrough(), stdout: new PassThrough(), stderr, isStdinTTY: false, isStdoutTTY: false, isStderrTTY, env: {} });
  const progress = startProgress(io, 'import', total, unit);
  progress?.add(added);
  progress?.stop();
  return text;
}

test('a bar counting bytes shows its value and total in binary units, without the raw counts', () => {
  const text = drawn('bytes', 3 * 1024 * 1024, 1536 * 1024);
  expect(text).toContain('0 B/3.0 MiB'); // drawn at start
  expect(text).toContain('1.5 MiB/3.0 MiB'); // drawn at stop, before it is cleared
  expect(text).not.toMatch(/3145728|bytes/);
});

test('a bar counting entries shows counts', () => {
  expect(drawn('entries', 6000, 6000)).toContain('6000/6000 entries');
});

test('no bar when stderr is not a terminal', () => {
  expect(drawn('bytes', 1024, 1024, false)).toBe('');
});
