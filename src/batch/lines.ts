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
  let partial = '';
  for await (const chunk of input) {
    onBytes?.(chunk.length);
    const text = partial + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const lines = text.split('\n');
    partial = lines.pop()!;
    for (let i = 0; i < lines.length; i += maxLines) yield lines.slice(i, i + maxLines);
  }
  partial += decoder.end();
  if (partial !== '') yield [partial];
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
