import { CacheError } from '../router/client.js';

/** memcached's key rule: 1-250 bytes, no spaces or control characters. */
export function checkKey(key: string): void {
  if (key.length === 0 || Buffer.byteLength(key) > 250 || /[\s\x00-\x1f\x7f]/.test(key)) {
    throw new CacheError(`invalid key ${JSON.stringify(key)}`);
  }
}

/** Whole seconds for a memcached TTL; rejects what memcached would misread. */
export function seconds(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 30 * 24 * 3600) {
    throw new RangeError(`${name} must be whole seconds from 0 to 2592000 (30 days), got ${value}`);
  }
  return value;
}
