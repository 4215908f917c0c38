/** lineGroups: full groups while more input is waiting, a short group as soon as none is (src/batch/lines.ts). */
import { PassThrough } from 'node:stream';
import { lineGroups } from '../../src/batch/lines.js';

const linesText = (from: number, count: number) => Array.from({ length: count }, (_, i) => `set k${from + i} v\n`).join('');

describe('lineGroups', () => {
  test('lines already waiting fill whole groups across chunks (a pipe delivers 64 KiB at a time)', async () => {
    // Object mode hands the chunks over one at a time, as a pipe's reads do while the reader keeps up.
    const input = new PassThrough({ objectMode: true });
    input.write(linesText(0, 1600));
    input.write(linesText(1600, 1600));
    input.end();
    const groups: string[][] = [];
    for await (const group of lineGroups(input, 1024)) groups.push(group);
    expect(groups.map((group) => group.length)).toEqual([1024, 1024, 1024, 128]);
    expect(groups.flat()).toEqual(linesText(0, 3200).trimEnd().split('\n'));
  });

  test('a short group comes at once when nothing more is waiting: a script that waits for its answer gets it', async () => {
    const input = new PassThrough();
    const groups = lineGroups(input, 1024)[Symbol.asyncIterator]();
    input.write('set a 1\nget a\n');
    expect((await groups.next()).value).toEqual(['set a 1', 'get a']);
    // A line whose end has not come yet waits; the complete one before it does not.
    input.write('get b\nget');
    input.write(' c');
    expect((await groups.next()).value).toEqual(['get b']);
    input.end('\n');
    expect((await groups.next()).value).toEqual(['get c']);
    expect((await groups.next()).done).toBe(true);
  });

  test('an iterable (no stream to look into) gives each chunk its own groups; a last line without LF is kept', async () => {
    const groups: string[][] = [];
    for await (const group of lineGroups(['a\nb\nc\n', 'd\ne'], 2)) groups.push(group);
    expect(groups).toEqual([['a', 'b'], ['c'], ['d'], ['e']]);
  });
});
