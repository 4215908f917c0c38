/**
 * Line input for batch and import: complete lines in groups as they arrive, so a caller can work on everything
 * already available at once (one transaction, one pipelined round of cache calls) without waiting for more
 * input — a script that writes one command and waits for its answer is answered at once — and without ever
 * holding more than one group in memory. Lines end at LF; a trailing CR stays for the grammar to strip.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { UsageError } from '../errors.js';

/**
 * Groups of at most `maxLines` complete lines, in order; a last line without LF is included.
 *
 * A group is short only when no more input is waiting: lines that do not fill one are held back while the input
 * (a stream) already holds more, and joined by the next chunk's. Otherwise a pipe's 64 KiB reads cut a batch of
 * short lines into groups of 1024 and ~600 lines, and each group pays its own transaction: a 100k-line `set`
 * batch ran 131 of them instead of 98.
 */
export async function* lineGroups(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  maxLines: number,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  // The unfinished line, as pieces: searching and copying only each new chunk keeps a huge line linear (joining
  // the partial line to every chunk and splitting again was quadratic: a 64 MiB line took 40 s).
  let partial: string[] = [];
  let lines: string[] = [];
  const moreWaiting = 'readableLength' in input ? () => (input as Readable).readableLength > 0 : () => false;
  for await (const chunk of input) {
    onBytes?.(chunk.length);
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    partial = splitLines(text, partial, lines);
    let i = 0;
    for (; lines.length - i >= maxLines; i += maxLines) yield lines.slice(i, i + maxLines);
    const rest = i === 0 ? lines : lines.slice(i);
    if (rest.length > 0 && !moreWaiting()) {
      yield rest;
      lines = [];
    } else lines = rest;
  }
  const last = partial.join('') + decoder.end();
  if (last !== '') lines.push(last);
  if (lines.length > 0) yield lines;
}

/**
 * Appends the lines `text` completes to `lines` (the first joined to `partial`, the pieces of an unfinished line)
 * and returns the pieces of the line it leaves unfinished. Synchronous and apart from the generator, so that V8
 * optimizes this loop and not the generator around it (batch.ts, planLines).
 */
function splitLines(text: string, partial: string[], lines: string[]): string[] {
  let start = 0;
  for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
    const line = text.slice(start, end);
    if (partial.length === 0) lines.push(line);
    else {
      partial.push(line);
      lines.push(partial.join(''));
      partial = [];
    }
    start = end + 1;
  }
  if (start < text.length) partial.push(text.slice(start));
  return partial;
}

/** Opens a file for reading, turning "no such file" and friends into a usage error that names it. */
export async function openInputFile(path: string, what: string): Promise<Readable> {
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (error) => reject(new UsageError(`cannot read ${what} ${JSON.stringify(path)}: ${error.message}`)));
  });
  return stream;
}
