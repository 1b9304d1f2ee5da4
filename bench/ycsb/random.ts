/** Random sources for the YCSB generators: a function returning a double in [0, 1). */
export type Random = () => number;

/**
 * A seeded generator (sfc32, 128-bit state) so tests and repeatable runs draw the same sequence.
 * Each double takes two 32-bit outputs, giving 53 random bits as Math.random and Java's
 * Random.nextDouble do: a zipfian over 10^10 items needs more than 32 bits of u.
 */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next32();
  return () => ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
}
