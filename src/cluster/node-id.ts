import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/** A node id made once and kept in `<dir>/node-id`, so a restarted node is the same node. */
export function stableNodeId(dir: string): string {
  const file = path.join(dir, 'node-id');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const id = `node-${randomBytes(4).toString('hex')}`;
  writeFileSync(file, id + '\n');
  return id;
}
