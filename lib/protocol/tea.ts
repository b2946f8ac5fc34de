/**
 * The 16-byte TEA variant that scrambles safe-nonce blocks (counter · random) under the vault's
 * 32-byte scramble key, so a nonce on the wire does not reveal how many were made before it.
 *
 * 64-bit words, little-endian halves and key quarters, 32 rounds, delta 0x9e3779b97f4a7c15; see
 * PROTOCOL.md "Safe nonces". A vault scrambles once per sealed box, on the path of every
 * handshake, so the 64-bit arithmetic is done on pairs of unsigned 32-bit halves (hi, lo) rather
 * than BigInt, which is about eighty times slower (bench/RESULTS.md, "Measurements behind design choices").
 */
import { CurvetunError } from '../errors.js';

const ROUNDS = 32;
const DELTA_HI = 0x9e3779b9;
const DELTA_LO = 0x7f4a7c15;

// The result of the last add/sub: two 32-bit halves, kept here so no arithmetic allocates.
let H = 0;
let L = 0;

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = al + bl;
  L = lo >>> 0;
  H = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

function sub(ah: number, al: number, bh: number, bl: number): void {
  const lo = al - bl;
  L = lo >>> 0;
  H = (ah - bh - (lo < 0 ? 1 : 0)) >>> 0;
}

/**
 * One TEA half-round's mixing value: `((x << left) + ka) ^ (x + sum) ^ ((x >> right) + kb)`,
 * left into (H, L).
 */
function mix(xh: number, xl: number, left: number, right: number, kah: number, kal: number, sh: number, sl: number, kbh: number, kbl: number): void {
  add(((xh << left) | (xl >>> (32 - left))) >>> 0, (xl << left) >>> 0, kah, kal);
  const ah = H;
  const al = L;
  add(xh, xl, sh, sl);
  const bh = H;
  const bl = L;
  add(xh >>> right, ((xl >>> right) | (xh << (32 - right))) >>> 0, kbh, kbl);
  H = (ah ^ bh ^ H) >>> 0;
  L = (al ^ bl ^ L) >>> 0;
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function put32le(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = v >>> 24;
}

function check(block16: Uint8Array, key32: Uint8Array): void {
  if (block16.length !== 16) throw new CurvetunError('EINVAL', 'a scramble block is 16 bytes');
  if (key32.length !== 32) throw new CurvetunError('EINVAL', 'a scramble key is 32 bytes');
}

function run(block16: Uint8Array, key32: Uint8Array, forward: boolean): Uint8Array {
  check(block16, key32);
  // Each 64-bit little-endian word as (hi, lo): lo is its first four bytes.
  let v0h = u32le(block16, 4);
  let v0l = u32le(block16, 0);
  let v1h = u32le(block16, 12);
  let v1l = u32le(block16, 8);
  const k0h = u32le(key32, 4), k0l = u32le(key32, 0);
  const k1h = u32le(key32, 12), k1l = u32le(key32, 8);
  const k2h = u32le(key32, 20), k2l = u32le(key32, 16);
  const k3h = u32le(key32, 28), k3l = u32le(key32, 24);
  let sh = 0;
  let sl = 0;
  if (forward) {
    for (let i = 0; i < ROUNDS; i++) {
      add(sh, sl, DELTA_HI, DELTA_LO);
      sh = H;
      sl = L;
      mix(v1h, v1l, 7, 12, k0h, k0l, sh, sl, k1h, k1l);
      add(v0h, v0l, H, L);
      v0h = H;
      v0l = L;
      mix(v0h, v0l, 16, 8, k2h, k2l, sh, sl, k3h, k3l);
      add(v1h, v1l, H, L);
      v1h = H;
      v1l = L;
    }
  } else {
    // sum starts at delta · 32 (mod 2^64) and steps back.
    for (let i = 0; i < ROUNDS; i++) {
      add(sh, sl, DELTA_HI, DELTA_LO);
      sh = H;
      sl = L;
    }
    for (let i = 0; i < ROUNDS; i++) {
      mix(v0h, v0l, 16, 8, k2h, k2l, sh, sl, k3h, k3l);
      sub(v1h, v1l, H, L);
      v1h = H;
      v1l = L;
      mix(v1h, v1l, 7, 12, k0h, k0l, sh, sl, k1h, k1l);
      sub(v0h, v0l, H, L);
      v0h = H;
      v0l = L;
      sub(sh, sl, DELTA_HI, DELTA_LO);
      sh = H;
      sl = L;
    }
  }
  const out = new Uint8Array(16);
  put32le(out, 0, v0l);
  put32le(out, 4, v0h);
  put32le(out, 8, v1l);
  put32le(out, 12, v1h);
  return out;
}

/** Scramble one 16-byte block under a 32-byte key. */
export function scramble(block16: Uint8Array, key32: Uint8Array): Uint8Array {
  return run(block16, key32, true);
}

/** The inverse of `scramble`: recovers the counter block (used by audits and tests). */
export function unscramble(block16: Uint8Array, key32: Uint8Array): Uint8Array {
  return run(block16, key32, false);
}
