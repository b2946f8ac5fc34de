/**
 * The v2 key schedule and transcript (PROTOCOL.md, "v2 key schedule"), in one place: H is SHA-256,
 * KDF(ck, ikm, info) is HKDF-SHA256 (RFC 5869) with the chaining key as salt, both from
 * node:crypto. Every output is 32 bytes. The chain follows Noise's `ck`/`h` pattern: each secret
 * is mixed into the chaining key with the transcript hash of everything sent so far in its info,
 * so a change to any byte of the handshake changes every key after it.
 *
 *   h0 = H(name[suite] · S)                 ck0 = h0
 *   h1 = H(h0 · Hello without its box)      ck1 = KDF(ck0, X(ECs, S), "ctun2 ck hello" · h1)
 *   h2 = H(h1 · ES · ct)                    ck2 = KDF(ck1, ss, "ctun2 ck mlkem" · h2)   (suite 2; else ck1)
 *                                           ck3 = KDF(ck2, X(ECs, ES), "ctun2 ck ee" · h2)
 *   h3 = H(h2 · K · Initiate plaintext)     T_s2c,0 = KDF(ck3, "", "ctun2 traffic s2c" · h3)
 *   h4 = H(h3 · READY plaintext)            T_c2s,0 = KDF(ck3, "", "ctun2 traffic c2s" · h4)
 *
 * Pure functions of their arguments: the callers wipe what they no longer need.
 */
import { createHash, hkdfSync } from 'node:crypto';
import { HASH_BYTES, LABEL, PROTOCOL_NAME, SUITE_HYBRID } from './constants.js';
import type { Suite } from './constants.js';

const EMPTY = new Uint8Array(0);

/** H(parts joined). */
export function transcriptHash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

/** KDF(ck, ikm, info · infoSuffix): HKDF-SHA256, salt = the chaining key, 32 bytes out. */
export function kdf(chainingKey: Uint8Array, ikm: Uint8Array, label: Uint8Array, infoSuffix: Uint8Array = EMPTY): Uint8Array {
  const info = infoSuffix.length === 0 ? label : Buffer.concat([label, infoSuffix]);
  return new Uint8Array(hkdfSync('sha256', ikm, chainingKey, info, HASH_BYTES));
}

/** h0 = H(protocol name of the suite · S): also ck0. */
export const initialHash = (suite: Suite, serverKey: Uint8Array) => transcriptHash(PROTOCOL_NAME[suite], serverKey);
/** h1 = H(h0 · the Hello up to its box: magic, suite, EC, ek). */
export const helloHash = (h0: Uint8Array, helloWithoutBox: Uint8Array) => transcriptHash(h0, helloWithoutBox);
/** ck1 from ck0 = h0 and dh1 = X(ECs, S) = X(Ss, EC). */
export const chainHello = (h0: Uint8Array, dh1: Uint8Array, h1: Uint8Array) => kdf(h0, dh1, LABEL.chainHello, h1);
export const helloBoxKey = (ck1: Uint8Array) => kdf(ck1, EMPTY, LABEL.helloBox);
export const cookieBoxKey = (ck1: Uint8Array) => kdf(ck1, EMPTY, LABEL.cookieBox);
/** h2 = H(h1 · ES · ct), ct empty for suite 1. */
export const cookieHash = (h1: Uint8Array, serverEphemeralKey: Uint8Array, ciphertext: Uint8Array) => transcriptHash(h1, serverEphemeralKey, ciphertext);

/** ck2: the ML-KEM secret mixed in (suite 2); suite 1 has none, so ck2 = ck1 (a copy). */
export function chainMlkem(suite: Suite, ck1: Uint8Array, sharedSecret: Uint8Array | null, h2: Uint8Array): Uint8Array {
  if (suite !== SUITE_HYBRID) return ck1.slice();
  if (!sharedSecret) throw new Error('curvetun: suite 2 needs the ML-KEM shared secret');
  return kdf(ck1, sharedSecret, LABEL.chainMlkem, h2);
}

/** ck3 from ck2 and dh2 = X(ECs, ES) = X(ESs, EC). */
export const chainEphemeral = (ck2: Uint8Array, dh2: Uint8Array, h2: Uint8Array) => kdf(ck2, dh2, LABEL.chainEphemeral, h2);
export const initiateBoxKey = (ck3: Uint8Array) => kdf(ck3, EMPTY, LABEL.initiateBox);
/** h3 = H(h2 · K · the Initiate plaintext). */
export const initiateHash = (h2: Uint8Array, cookie: Uint8Array, initiatePlaintext: Uint8Array) => transcriptHash(h2, cookie, initiatePlaintext);
export const serverToClientSecret = (ck3: Uint8Array, h3: Uint8Array) => kdf(ck3, EMPTY, LABEL.trafficServerToClient, h3);
/** h4 = H(h3 · READY's plaintext, type byte included). */
export const readyHash = (h3: Uint8Array, readyPlaintext: Uint8Array) => transcriptHash(h3, readyPlaintext);
export const clientToServerSecret = (ck3: Uint8Array, h4: Uint8Array) => kdf(ck3, EMPTY, LABEL.trafficClientToServer, h4);

/** A direction's box key for its current traffic secret. */
export const boxKeyOf = (trafficSecret: Uint8Array) => kdf(trafficSecret, EMPTY, LABEL.boxKey);
/** The next epoch's traffic secret (KEY_UPDATE). */
export const nextTrafficSecret = (trafficSecret: Uint8Array) => kdf(trafficSecret, EMPTY, LABEL.keyUpdate);

/** The v2 cookie key, derived from (and wiped with) a minute key. */
export const cookieKeyOf = (minuteKey: Uint8Array) => kdf(minuteKey, EMPTY, LABEL.cookieKey);
