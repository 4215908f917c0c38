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

/** Groups of at most `maxLines` complete lines, in order; a last line without LF is included. */
export async function* lineGroups(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  maxLines: number,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  // The unfinished line, as pieces: searching and copying only each new chunk keeps a huge line linear (joining
  // the partial line to every chunk and splitting again was quadratic: a 64 MiB line took 40 s).
  let partial: string[] = [];
  for await (const chunk of input) {
    onBytes?.(chunk.length);
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const lines: string[] = [];
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
    for (let i = 0; i < lines.length; i += maxLines) yield lines.slice(i, i + maxLines);
  }
  const last = partial.join('') + decoder.end();
  if (last !== '') yield [last];
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
