/**
 * Encode and decode the three v2 handshake packets (frame payloads): Hello, Cookie, Initiate.
 * Decoders return views into the payload and throw `ProtocolError` (`EPROTO`) for anything that is
 * not the packet with its exact size; encoders throw `EINVAL` for a field of the wrong size.
 */
import { CurvetunError, ProtocolError } from '../../errors.js';
import {
  BOX_OVERHEAD,
  KEY_BYTES,
  MAGIC_BYTES,
  NONCE_BYTES,
  SUITE_EK_BYTES,
  V2_COOKIE_BYTES,
  V2_HELLO_BYTES,
  V2_INITIATE_PLAINTEXT_BYTES,
  V2_MAGIC_COOKIE,
  V2_MAGIC_HELLO,
  V2_MAGIC_INITIATE,
  isSuite,
} from './constants.js';
import type { Suite } from './constants.js';
import { V2_INITIATE, cookieBoxLayout, cookiePacketLayout, helloLayout } from './layout.js';
import { requireBytes } from './boxes.js';

/** C → S: `magic · suite · EC · ek · box("")`. */
export interface HelloV2 {
  suite: Suite;
  clientEphemeralKey: Uint8Array;
  /** The ML-KEM-768 encapsulation key (1 184 bytes) for suite 2, empty for suite 1. */
  encapsulationKey: Uint8Array;
  box: Uint8Array;
}

/** S → C: `magic · n24 · box(ES · ct · K)`. */
export interface CookieV2 {
  nonce24: Uint8Array;
  box: Uint8Array;
}

/** C → S: `magic · K · box(C · v16 · vouch · maxMessageBytes)`. */
export interface InitiateV2 {
  cookie: Uint8Array;
  box: Uint8Array;
}


/** Whether `payload` begins with `magic` (and is long enough to). */
export function hasMagic(payload: Uint8Array, magic: Uint8Array): boolean {
  if (payload.length < MAGIC_BYTES) return false;
  for (let i = 0; i < MAGIC_BYTES; i++) if (payload[i] !== magic[i]) return false;
  return true;
}

function expectMagic(payload: Uint8Array, magic: Uint8Array, packet: string): void {
  if (!(payload instanceof Uint8Array)) throw new ProtocolError(`a ${packet} packet must be bytes`);
  if (!hasMagic(payload, magic)) throw new ProtocolError(`not a v2 ${packet} packet (wrong magic or too short)`);
}

function exactSize(payload: Uint8Array, size: number, packet: string): void {
  if (payload.length !== size) throw new ProtocolError(`a v2 ${packet} packet is ${size} bytes, got ${payload.length}`);
}

export function encodeHelloV2(p: HelloV2): Uint8Array {
  if (!isSuite(p.suite)) throw new CurvetunError('EINVAL', 'the suite must be 1 or 2');
  requireBytes('EC', p.clientEphemeralKey, KEY_BYTES);
  requireBytes('the encapsulation key', p.encapsulationKey, SUITE_EK_BYTES[p.suite]);
  requireBytes('the Hello box', p.box, BOX_OVERHEAD);
  const at = helloLayout(p.suite);
  const out = new Uint8Array(at.end);
  out.set(V2_MAGIC_HELLO, 0);
  out[at.suite] = p.suite;
  out.set(p.clientEphemeralKey, at.clientEphemeralKey);
  out.set(p.encapsulationKey, at.encapsulationKey);
  out.set(p.box, at.box);
  return out;
}

/** The Hello's suite, size and fields; `EPROTO` for an unknown suite or a wrong size. */
export function decodeHelloV2(payload: Uint8Array): HelloV2 {
  expectMagic(payload, V2_MAGIC_HELLO, 'Hello');
  const suite = payload[MAGIC_BYTES];
  if (!isSuite(suite)) throw new ProtocolError(`unknown v2 suite ${String(suite)}`);
  exactSize(payload, V2_HELLO_BYTES[suite], 'Hello');
  const at = helloLayout(suite);
  return {
    suite,
    clientEphemeralKey: payload.subarray(at.clientEphemeralKey, at.encapsulationKey),
    encapsulationKey: payload.subarray(at.encapsulationKey, at.box),
    box: payload.subarray(at.box, at.end),
  };
}

/** The part of a Hello hashed into h1: everything before its box. */
export function helloTranscriptPart(payload: Uint8Array, suite: Suite): Uint8Array {
  return payload.subarray(0, helloLayout(suite).box);
}

export function encodeCookieV2(suite: Suite, p: CookieV2): Uint8Array {
  requireBytes('the Cookie nonce', p.nonce24, NONCE_BYTES);
  requireBytes('the Cookie box', p.box, cookieBoxLayout(suite).end + BOX_OVERHEAD);
  const at = cookiePacketLayout(suite);
  const out = new Uint8Array(at.end);
  out.set(V2_MAGIC_COOKIE, 0);
  out.set(p.nonce24, at.nonce24);
  out.set(p.box, at.box);
  return out;
}

/** A Cookie packet of the client's suite; `EPROTO` for any other magic or size. */
export function decodeCookieV2(payload: Uint8Array, suite: Suite): CookieV2 {
  expectMagic(payload, V2_MAGIC_COOKIE, 'Cookie');
  const at = cookiePacketLayout(suite);
  exactSize(payload, at.end, 'Cookie');
  return { nonce24: payload.subarray(at.nonce24, at.box), box: payload.subarray(at.box, at.end) };
}

export function encodeInitiateV2(p: InitiateV2): Uint8Array {
  requireBytes('the cookie', p.cookie, V2_COOKIE_BYTES);
  requireBytes('the Initiate box', p.box, V2_INITIATE_PLAINTEXT_BYTES + BOX_OVERHEAD);
  const out = new Uint8Array(V2_INITIATE.end);
  out.set(V2_MAGIC_INITIATE, 0);
  out.set(p.cookie, V2_INITIATE.cookie);
  out.set(p.box, V2_INITIATE.box);
  return out;
}

export function decodeInitiateV2(payload: Uint8Array): InitiateV2 {
  expectMagic(payload, V2_MAGIC_INITIATE, 'Initiate');
  exactSize(payload, V2_INITIATE.end, 'Initiate');
  return { cookie: payload.subarray(V2_INITIATE.cookie, V2_INITIATE.box), box: payload.subarray(V2_INITIATE.box, V2_INITIATE.end) };
}
