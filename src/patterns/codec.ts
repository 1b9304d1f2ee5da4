/** How values become cache bytes and back. */
export interface Codec<T> {
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

/** JSON text (the default). `undefined` cannot be cached: return `null` from a loader instead. */
export const jsonCodec: Codec<unknown> = {
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('jsonCodec cannot encode undefined (or a function/symbol); use null');
    return Buffer.from(text);
  },
  decode: (bytes) => JSON.parse(bytes.toString('utf8')) as unknown,
};

export const stringCodec: Codec<string> = {
  encode: (value) => Buffer.from(value, 'utf8'),
  decode: (bytes) => bytes.toString('utf8'),
};

export const bufferCodec: Codec<Buffer> = {
  encode: (value) => value,
  decode: (bytes) => bytes,
};

/**
 * Client flags the patterns store with their items, so a reader can tell a value filled by these
 * patterns from a lease placeholder (flags 0, empty) or a tombstone. Keys used with the patterns
 * should be written only through them.
 */
export const VALUE_FLAG = 0x5356; // "SV"
export const TOMBSTONE_FLAG = 0x5354; // "ST"
