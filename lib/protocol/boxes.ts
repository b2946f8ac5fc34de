/**
 * The plaintexts inside the handshake's boxes, and the cookie: one encoder and one decoder each,
 * over the offsets of layout.ts. Pure byte layout: the sealing and opening are done by whoever
 * holds the key (the handshake, the vault, the cookie keeper). Decoders return views into their
 * input; callers that keep a field copy it.
 */
import { CurvetunError } from '../errors.js';
import { KEY_BYTES, SAFE_NONCE_BYTES } from './constants.js';
import { COOKIE, COOKIE_BOX, COOKIE_CONTENTS, VOUCH_BOX, VOUCH_SEAL_BYTES } from './layout.js';

function bytes(name: string, value: unknown, size: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== size) throw new CurvetunError('EINVAL', `${name} must be ${size} bytes`);
}

function exactly(name: string, plaintext: Uint8Array, size: number): void {
  if (plaintext.length !== size) throw new CurvetunError('EPROTO', `${name} is ${size} bytes, got ${plaintext.length}`);
}

/** Inside the Cookie box: the server's ephemeral public key and the cookie. */
export interface CookieBoxContents {
  serverEphemeralKey: Uint8Array;
  cookie: Uint8Array;
}

/** `ES · K`, the Cookie box's plaintext. */
export function encodeCookieBox(serverEphemeralKey: Uint8Array, cookie: Uint8Array): Uint8Array {
  bytes('ES', serverEphemeralKey, KEY_BYTES);
  bytes('the cookie', cookie, COOKIE.end);
  const out = new Uint8Array(COOKIE_BOX.end);
  out.set(serverEphemeralKey, COOKIE_BOX.serverEphemeralKey);
  out.set(cookie, COOKIE_BOX.cookie);
  return out;
}

export function decodeCookieBox(plaintext: Uint8Array): CookieBoxContents {
  exactly('a Cookie box', plaintext, COOKIE_BOX.end);
  return {
    serverEphemeralKey: plaintext.subarray(COOKIE_BOX.serverEphemeralKey, COOKIE_BOX.cookie),
    cookie: plaintext.subarray(COOKIE_BOX.cookie, COOKIE_BOX.end),
  };
}

/** Inside the Vouch box: the client's long-term key, the vouch's safe nonce and the vouch itself. */
export interface VouchBoxContents {
  clientKey: Uint8Array;
  nonce16: Uint8Array;
  /** V: box(EC) from the client's long-term key to the server's. */
  vouch: Uint8Array;
}

/** `C · v16 · V`, the Vouch box's plaintext. */
export function encodeVouchBox(contents: VouchBoxContents): Uint8Array {
  bytes('C', contents.clientKey, KEY_BYTES);
  bytes('v16', contents.nonce16, SAFE_NONCE_BYTES);
  bytes('V', contents.vouch, VOUCH_SEAL_BYTES);
  const out = new Uint8Array(VOUCH_BOX.end);
  out.set(contents.clientKey, VOUCH_BOX.clientKey);
  out.set(contents.nonce16, VOUCH_BOX.nonce16);
  out.set(contents.vouch, VOUCH_BOX.vouch);
  return out;
}

export function decodeVouchBox(plaintext: Uint8Array): VouchBoxContents {
  exactly('a Vouch box', plaintext, VOUCH_BOX.end);
  return {
    clientKey: plaintext.subarray(VOUCH_BOX.clientKey, VOUCH_BOX.nonce16),
    nonce16: plaintext.subarray(VOUCH_BOX.nonce16, VOUCH_BOX.vouch),
    vouch: plaintext.subarray(VOUCH_BOX.vouch, VOUCH_BOX.end),
  };
}

/** What a cookie carries, sealed under the minute key. */
export interface CookieContents {
  /** The client's ephemeral public key, as in the Hello. */
  clientEphemeralPublicKey: Uint8Array;
  /** The server's ephemeral secret key for this connection. */
  serverEphemeralSecretKey: Uint8Array;
}

/** `EC · ESs`, the plaintext sealed into a cookie. The caller wipes it once sealed. */
export function encodeCookieContents(clientEphemeralPublicKey: Uint8Array, serverEphemeralSecretKey: Uint8Array): Uint8Array {
  bytes('EC', clientEphemeralPublicKey, KEY_BYTES);
  bytes('ESs', serverEphemeralSecretKey, KEY_BYTES);
  const out = new Uint8Array(COOKIE_CONTENTS.end);
  out.set(clientEphemeralPublicKey, COOKIE_CONTENTS.clientEphemeralKey);
  out.set(serverEphemeralSecretKey, COOKIE_CONTENTS.serverEphemeralSecretKey);
  return out;
}

/** Copies (the caller wipes the plaintext). */
export function decodeCookieContents(plaintext: Uint8Array): CookieContents {
  exactly('a cookie plaintext', plaintext, COOKIE_CONTENTS.end);
  return {
    clientEphemeralPublicKey: plaintext.slice(COOKIE_CONTENTS.clientEphemeralKey, COOKIE_CONTENTS.serverEphemeralSecretKey),
    serverEphemeralSecretKey: plaintext.slice(COOKIE_CONTENTS.serverEphemeralSecretKey, COOKIE_CONTENTS.end),
  };
}

/** The cookie's two parts: k16 (its nonce bytes and its identity) and the sealed contents. */
export interface CookieParts {
  k16: Uint8Array;
  box: Uint8Array;
}

/** `k16 · box(EC · ESs)`: the 96-byte cookie. */
export function encodeCookieValue(k16: Uint8Array, box: Uint8Array): Uint8Array {
  bytes('k16', k16, SAFE_NONCE_BYTES);
  bytes('the cookie box', box, COOKIE.end - COOKIE.box);
  const out = new Uint8Array(COOKIE.end);
  out.set(k16, COOKIE.k16);
  out.set(box, COOKIE.box);
  return out;
}

/** `EINVAL` unless it is a 96-byte array. */
export function decodeCookieValue(cookie: unknown): CookieParts {
  bytes('a cookie', cookie, COOKIE.end);
  return { k16: cookie.subarray(COOKIE.k16, COOKIE.box), box: cookie.subarray(COOKIE.box, COOKIE.end) };
}
