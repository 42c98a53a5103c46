/** How a snapshot is stored: its JSON gzip-compressed with the runtime's CompressionStream, cut into chunks. */

/** Bytes per stored chunk of a compressed snapshot: well under the 2 MB a row may hold. */
export const SNAPSHOT_CHUNK_BYTES = 1_000_000;

/** A snapshot's JSON compressed and cut into chunks, ready to be written in one synchronous transaction. */
export interface PackedSnapshot {
  readonly chunks: readonly Uint8Array[];
  /** The JSON's size in UTF-8 bytes. */
  readonly bytes: number;
  /** The compressed size in bytes (the sum of the chunks). */
  readonly storedBytes: number;
}

/**
 * Gzips a snapshot's JSON (the runtime's CompressionStream) and cuts it into chunks of at most
 * `chunkBytes`. Compression is asynchronous and SQLite writes here are not: a snapshot is packed
 * first, then saved.
 */
export async function packSnapshot(json: string, chunkBytes = SNAPSHOT_CHUNK_BYTES): Promise<PackedSnapshot> {
  const text = new TextEncoder().encode(json);
  const gzipped = new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < gzipped.length; start += chunkBytes) pieces.push(gzipped.subarray(start, start + chunkBytes));
  return { chunks: pieces, bytes: text.length, storedBytes: gzipped.length };
}

/** The JSON back from a compressed snapshot's chunks. */
export async function unpackSnapshot(chunks: readonly Uint8Array[]): Promise<string> {
  return new Response(new Blob([...chunks]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}
