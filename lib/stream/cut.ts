/**
 * Cutting a byte stream into messages: buffered chunks are packed into pieces of at most `max`
 * bytes, so many small writes share one packet and one large write spans several.
 */

/**
 * Split `chunks` (in order) into consecutive pieces of at most `max` bytes, each non-empty.
 * A piece that lies inside one chunk is a view of it (no copy); only pieces that join the end of
 * one chunk to the start of the next are copied. Empty input gives no pieces.
 */
export function cutIntoMessages(chunks: readonly Uint8Array[], max: number): Uint8Array[] {
  if (!Number.isInteger(max) || max <= 0) throw new RangeError('max must be a positive integer');
  const out: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = () => {
    out.push(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  for (const chunk of chunks) {
    // Each turn consumes at least one byte, so this runs at most chunk.length times.
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(max - pendingBytes, chunk.length - offset);
      pending.push(chunk.subarray(offset, offset + take));
      pendingBytes += take;
      offset += take;
      if (pendingBytes === max) flush();
    }
  }
  if (pendingBytes > 0) flush();
  return out;
}
