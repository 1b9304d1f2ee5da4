/**
 * Java .properties files as YCSB reads them with `-P file`: `name=value`, `name: value` or
 * `name value`; `#` and `!` comment lines; a trailing backslash continues a line; \t \n \r \f \\
 * and \uXXXX escapes. Unlike Java, trailing whitespace is dropped from values, so "1000  " parses
 * as a number.
 */
import { readFileSync } from 'node:fs';
import type { Properties } from './db.js';

function logicalLines(text: string): string[] {
  const out: string[] = [];
  let pending: string | null = null;
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const stripped = raw.replace(/^[ \t\f]+/, '');
    // A comment line never continues, even when it ends in a backslash.
    if (pending === null && (stripped.startsWith('#') || stripped.startsWith('!'))) continue;
    const line: string = (pending ?? '') + stripped;
    pending = null;
    const trailing = /\\+$/.exec(line)?.[0].length ?? 0;
    if (trailing % 2 === 1) pending = line.slice(0, -1);
    else out.push(line);
  }
  if (pending !== null) out.push(pending);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_m, e: string) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ t: '\t', n: '\n', r: '\r', f: '\f' } as { [k: string]: string })[e] ?? e;
  });
}

/** Parse properties text into `into` (later names override earlier ones). */
export function parseProperties(text: string, into: Properties = new Map()): Properties {
  for (const line of logicalLines(text)) {
    if (line === '') continue;
    let i = 0;
    while (i < line.length && !'=: \t\f'.includes(line[i])) i += line[i] === '\\' ? 2 : 1;
    const name = line.slice(0, i);
    let rest = line.slice(i).replace(/^[ \t\f]+/, '');
    if (rest.startsWith('=') || rest.startsWith(':')) rest = rest.slice(1).replace(/^[ \t\f]+/, '');
    into.set(unescape(name), unescape(rest.replace(/[ \t\f]+$/, '')));
  }
  return into;
}

export function loadPropertiesFile(file: string, into: Properties = new Map()): Properties {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`Unable to open the properties file ${file}: ${(err as Error).message}`);
  }
  return parseProperties(text, into);
}

/** `-p name=value`: split at the first '='. */
export function parseAssignment(arg: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new Error(`expected name=value after -p, got "${arg}" (e.g. -p operationcount=99999)`);
  return [arg.slice(0, eq), arg.slice(eq + 1)];
}
