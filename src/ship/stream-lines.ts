import type { Readable } from 'node:stream';
import { LineSplitter, type Line } from './line-splitter.js';

/**
 * Lines of a stream (stdin) in batches, pulled by the caller: while a batch is being handled
 * the stream is not read, so a writer into a pipe is held back (backpressure). At the end of
 * the stream, bytes after the last newline are passed on as a last line.
 */
export async function* streamLines(stream: Readable, maxLineBytes: number): AsyncGenerator<Line[]> {
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of stream) {
    const lines = splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    if (lines.length > 0) yield lines;
  }
  const last = splitter.flush();
  if (last) yield [last];
}
