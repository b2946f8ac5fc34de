/**
 * The 16-byte TEA variant that scrambles safe-nonce blocks (counter · random) under the vault's
 * 32-byte scramble key, so a nonce on the wire does not reveal how many were made before it.
 *
 * 64-bit words, little-endian halves and key quarters, 32 rounds, delta 0x9e3779b97f4a7c15; see
 * PROTOCOL.md "Safe nonces". It runs a few times per handshake, so plain BigInt code is enough.
 */
import { CurvetunError } from '../errors.js';

const MASK = (1n << 64n) - 1n;
const DELTA = 0x9e3779b97f4a7c15n;
const ROUNDS = 32;

function words(block16: Uint8Array, key32: Uint8Array): { v0: bigint; v1: bigint; k: bigint[] } {
  if (block16.length !== 16) throw new CurvetunError('EINVAL', 'a scramble block is 16 bytes');
  if (key32.length !== 32) throw new CurvetunError('EINVAL', 'a scramble key is 32 bytes');
  const b = Buffer.from(block16.buffer, block16.byteOffset, 16);
  const kb = Buffer.from(key32.buffer, key32.byteOffset, 32);
  return {
    v0: b.readBigUInt64LE(0),
    v1: b.readBigUInt64LE(8),
    k: [kb.readBigUInt64LE(0), kb.readBigUInt64LE(8), kb.readBigUInt64LE(16), kb.readBigUInt64LE(24)],
  };
}

function output(v0: bigint, v1: bigint): Uint8Array {
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(v0, 0);
  out.writeBigUInt64LE(v1, 8);
  return new Uint8Array(out.buffer, out.byteOffset, 16);
}

/** Scramble one 16-byte block under a 32-byte key. */
export function scramble(block16: Uint8Array, key32: Uint8Array): Uint8Array {
  let { v0, v1, k } = words(block16, key32);
  const [k0, k1, k2, k3] = k as [bigint, bigint, bigint, bigint];
  let sum = 0n;
  for (let i = 0; i < ROUNDS; i++) {
    sum = (sum + DELTA) & MASK;
    v0 = (v0 + ((((v1 << 7n) + k0) & MASK) ^ ((v1 + sum) & MASK) ^ ((v1 >> 12n) + k1))) & MASK;
    v1 = (v1 + ((((v0 << 16n) + k2) & MASK) ^ ((v0 + sum) & MASK) ^ ((v0 >> 8n) + k3))) & MASK;
  }
  return output(v0, v1);
}

/** The inverse of `scramble`: recovers the counter block (used by audits and tests). */
export function unscramble(block16: Uint8Array, key32: Uint8Array): Uint8Array {
  let { v0, v1, k } = words(block16, key32);
  const [k0, k1, k2, k3] = k as [bigint, bigint, bigint, bigint];
  let sum = (DELTA * BigInt(ROUNDS)) & MASK;
  for (let i = 0; i < ROUNDS; i++) {
    v1 = (v1 - (((((v0 << 16n) + k2) & MASK) ^ ((v0 + sum) & MASK) ^ ((v0 >> 8n) + k3)) & MASK)) & MASK;
    v0 = (v0 - (((((v1 << 7n) + k0) & MASK) ^ ((v1 + sum) & MASK) ^ ((v1 >> 12n) + k1)) & MASK)) & MASK;
    sum = (sum - DELTA) & MASK;
  }
  return output(v0, v1);
}
