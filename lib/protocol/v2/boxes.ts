/**
 * The plaintexts inside the v2 boxes, and the v2 cookie: one encoder and one decoder each, over
 * the offsets of layout.ts. Sealing and opening stay with whoever holds the key. Decoders of
 * secret-bearing plaintexts copy (the caller wipes the plaintext); the others return views.
 * Decoders throw `EPROTO` for a wrong size, encoders `EINVAL` for a wrong field.
 */
import { CurvetunError, ProtocolError } from '../../errors.js';
import { readCounter, writeCounter } from '../nonce.js';
import { HASH_BYTES, KEY_BYTES, SAFE_NONCE_BYTES, V2_COOKIE_BYTES, V2_MAX_ANNOUNCED_MESSAGE_BYTES, V2_VOUCH_BOX_BYTES, V2_VOUCH_PURPOSE } from './constants.js';
import type { Suite } from './constants.js';
import { V2_COOKIE, V2_COOKIE_CONTENTS, V2_INITIATE_PLAINTEXT, V2_VOUCH, cookieBoxLayout } from './layout.js';
import { SUITE_CT_BYTES } from './constants.js';

/** `EINVAL` unless `value` is a Uint8Array of `size` bytes (what every v2 encoder checks). */
export function requireBytes(name: string, value: unknown, size: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== size) throw new CurvetunError('EINVAL', `${name} must be ${size} bytes`);
}

function exactly(name: string, plaintext: Uint8Array, size: number): void {
  if (!(plaintext instanceof Uint8Array) || plaintext.length !== size) {
    throw new ProtocolError(`${name} is ${size} bytes, got ${plaintext instanceof Uint8Array ? plaintext.length : 'no bytes'}`);
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

export function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}
export { readU32 };

/** A maxMessageBytes a peer announces: 1 … 2^30 (`EPROTO` otherwise). */
export function checkAnnouncedLimit(value: number, who: string): number {
  if (value < 1 || value > V2_MAX_ANNOUNCED_MESSAGE_BYTES) throw new ProtocolError(`${who} announced a message limit of ${value} bytes (1 to 2^30 allowed)`);
  return value;
}

// ---- Cookie box: ES · ct · K -------------------------------------------------------------------

export interface CookieBoxV2 {
  serverEphemeralKey: Uint8Array;
  /** ML-KEM ciphertext (suite 2), empty for suite 1. */
  ciphertext: Uint8Array;
  cookie: Uint8Array;
}

export function encodeCookieBoxV2(suite: Suite, p: CookieBoxV2): Uint8Array {
  requireBytes('ES', p.serverEphemeralKey, KEY_BYTES);
  requireBytes('the ML-KEM ciphertext', p.ciphertext, SUITE_CT_BYTES[suite]);
  requireBytes('the cookie', p.cookie, V2_COOKIE_BYTES);
  const at = cookieBoxLayout(suite);
  const out = new Uint8Array(at.end);
  out.set(p.serverEphemeralKey, at.serverEphemeralKey);
  out.set(p.ciphertext, at.ciphertext);
  out.set(p.cookie, at.cookie);
  return out;
}

export function decodeCookieBoxV2(suite: Suite, plaintext: Uint8Array): CookieBoxV2 {
  const at = cookieBoxLayout(suite);
  exactly('a v2 Cookie box', plaintext, at.end);
  return {
    serverEphemeralKey: plaintext.subarray(at.serverEphemeralKey, at.ciphertext),
    ciphertext: plaintext.subarray(at.ciphertext, at.cookie),
    cookie: plaintext.subarray(at.cookie, at.end),
  };
}

// ---- The v2 cookie: k16 · box(EC · ESs · ck3 · h2 · expiry) -----------------------------------------

/** What the server needs at the Initiate, carried by the client inside the cookie. */
export interface CookieContentsV2 {
  clientEphemeralKey: Uint8Array;
  serverEphemeralSecretKey: Uint8Array;
  /** ck3, the chaining key after both X25519 terms (and ML-KEM). */
  chainingKey: Uint8Array;
  /** h2, the transcript after the Cookie's public values. */
  transcript: Uint8Array;
  /** When the cookie stops opening: the keeper's monotonic clock, ms. */
  expiry: number;
}

/** The plaintext sealed into a v2 cookie. The caller wipes it once sealed. */
export function encodeCookieContentsV2(c: CookieContentsV2): Uint8Array {
  requireBytes('EC', c.clientEphemeralKey, KEY_BYTES);
  requireBytes('ESs', c.serverEphemeralSecretKey, KEY_BYTES);
  requireBytes('ck3', c.chainingKey, HASH_BYTES);
  requireBytes('h2', c.transcript, HASH_BYTES);
  if (!Number.isSafeInteger(c.expiry) || c.expiry < 0) throw new CurvetunError('EINVAL', 'the expiry must be a non-negative integer');
  const out = new Uint8Array(V2_COOKIE_CONTENTS.end);
  out.set(c.clientEphemeralKey, V2_COOKIE_CONTENTS.clientEphemeralKey);
  out.set(c.serverEphemeralSecretKey, V2_COOKIE_CONTENTS.serverEphemeralSecretKey);
  out.set(c.chainingKey, V2_COOKIE_CONTENTS.chainingKey);
  out.set(c.transcript, V2_COOKIE_CONTENTS.transcript);
  writeCounter(out, V2_COOKIE_CONTENTS.expiry, c.expiry);
  return out;
}

/** Copies (the caller wipes the plaintext). */
export function decodeCookieContentsV2(plaintext: Uint8Array): CookieContentsV2 {
  exactly('a v2 cookie plaintext', plaintext, V2_COOKIE_CONTENTS.end);
  const expiry = readCounter(plaintext, V2_COOKIE_CONTENTS.expiry);
  if (expiry === null) throw new ProtocolError('a v2 cookie expiry beyond 2^53-1');
  return {
    clientEphemeralKey: plaintext.slice(V2_COOKIE_CONTENTS.clientEphemeralKey, V2_COOKIE_CONTENTS.serverEphemeralSecretKey),
    serverEphemeralSecretKey: plaintext.slice(V2_COOKIE_CONTENTS.serverEphemeralSecretKey, V2_COOKIE_CONTENTS.chainingKey),
    chainingKey: plaintext.slice(V2_COOKIE_CONTENTS.chainingKey, V2_COOKIE_CONTENTS.transcript),
    transcript: plaintext.slice(V2_COOKIE_CONTENTS.transcript, V2_COOKIE_CONTENTS.expiry),
    expiry,
  };
}

export function encodeCookieValueV2(k16: Uint8Array, box: Uint8Array): Uint8Array {
  requireBytes('k16', k16, SAFE_NONCE_BYTES);
  requireBytes('the v2 cookie box', box, V2_COOKIE.end - V2_COOKIE.box);
  const out = new Uint8Array(V2_COOKIE.end);
  out.set(k16, V2_COOKIE.k16);
  out.set(box, V2_COOKIE.box);
  return out;
}

/** `EINVAL` unless it is a 168-byte array (a cookie comes from a caller, not from a decoder). */
export function decodeCookieValueV2(cookie: unknown): { k16: Uint8Array; box: Uint8Array } {
  requireBytes('a v2 cookie', cookie, V2_COOKIE.end);
  return { k16: cookie.subarray(V2_COOKIE.k16, V2_COOKIE.box), box: cookie.subarray(V2_COOKIE.box, V2_COOKIE.end) };
}

// ---- The vouch: purpose · EC · S · h2 ---------------------------------------------------------------

/** The vouch plaintext, built by the vault (never by a caller) and rebuilt by the server to compare. */
export function encodeVouchPlaintextV2(clientEphemeralKey: Uint8Array, serverKey: Uint8Array, transcript: Uint8Array): Uint8Array {
  requireBytes('EC', clientEphemeralKey, KEY_BYTES);
  requireBytes('S', serverKey, KEY_BYTES);
  requireBytes('h2', transcript, HASH_BYTES);
  const out = new Uint8Array(V2_VOUCH.end);
  out.set(V2_VOUCH_PURPOSE, V2_VOUCH.purpose);
  out.set(clientEphemeralKey, V2_VOUCH.clientEphemeralKey);
  out.set(serverKey, V2_VOUCH.serverKey);
  out.set(transcript, V2_VOUCH.transcript);
  return out;
}

// ---- The Initiate plaintext: C · v16 · vouch box · maxMessageBytes ----------------------------------

export interface InitiatePlaintextV2 {
  clientKey: Uint8Array;
  nonce16: Uint8Array;
  vouch: Uint8Array;
  maxMessageBytes: number;
}

export function encodeInitiatePlaintextV2(p: InitiatePlaintextV2): Uint8Array {
  requireBytes('C', p.clientKey, KEY_BYTES);
  requireBytes('v16', p.nonce16, SAFE_NONCE_BYTES);
  requireBytes('the vouch box', p.vouch, V2_VOUCH_BOX_BYTES);
  if (!Number.isInteger(p.maxMessageBytes) || p.maxMessageBytes < 1 || p.maxMessageBytes > V2_MAX_ANNOUNCED_MESSAGE_BYTES) {
    throw new CurvetunError('EINVAL', 'maxMessageBytes must be an integer from 1 to 2^30');
  }
  const out = new Uint8Array(V2_INITIATE_PLAINTEXT.end);
  out.set(p.clientKey, V2_INITIATE_PLAINTEXT.clientKey);
  out.set(p.nonce16, V2_INITIATE_PLAINTEXT.nonce16);
  out.set(p.vouch, V2_INITIATE_PLAINTEXT.vouch);
  writeU32(out, V2_INITIATE_PLAINTEXT.maxMessageBytes, p.maxMessageBytes);
  return out;
}

/** Views into the plaintext; `EPROTO` for a wrong size or an announced limit out of range. */
export function decodeInitiatePlaintextV2(plaintext: Uint8Array): InitiatePlaintextV2 {
  exactly('a v2 Initiate plaintext', plaintext, V2_INITIATE_PLAINTEXT.end);
  return {
    clientKey: plaintext.subarray(V2_INITIATE_PLAINTEXT.clientKey, V2_INITIATE_PLAINTEXT.nonce16),
    nonce16: plaintext.subarray(V2_INITIATE_PLAINTEXT.nonce16, V2_INITIATE_PLAINTEXT.vouch),
    vouch: plaintext.subarray(V2_INITIATE_PLAINTEXT.vouch, V2_INITIATE_PLAINTEXT.maxMessageBytes),
    maxMessageBytes: checkAnnouncedLimit(readU32(plaintext, V2_INITIATE_PLAINTEXT.maxMessageBytes), 'the client'),
  };
}
