/**
 * FNV-1a of a string, as an unsigned 32-bit number: stable across runs, processes and deploys, so what
 * is placed by it (a sweep bucket, a registry shard, a simulated outcome) lands in the same place every time.
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
