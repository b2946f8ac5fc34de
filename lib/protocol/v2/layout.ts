/**
 * Where each field of a v2 packet or plaintext sits, derived from the sizes in constants.ts and
 * checked at load against the sizes PROTOCOL.md states. `end` is a layout's whole size. The Hello
 * and the Cookie packet depend on the suite (suite 2 carries ML-KEM fields), so they are functions
 * of it.
 */
import {
  BOX_OVERHEAD,
  COUNTER_BYTES,
  FRAME_HEADER_BYTES,
  HASH_BYTES,
  KEY_BYTES,
  MAGIC_BYTES,
  NONCE_BYTES,
  SAFE_NONCE_BYTES,
  SUITE_CLASSICAL,
  SUITE_CT_BYTES,
  SUITE_EK_BYTES,
  SUITE_HYBRID,
  V2_COOKIE_BYTES,
  V2_COOKIE_CONTENTS_BYTES,
  V2_COOKIE_PACKET_BYTES,
  V2_FIRST_BODY_BYTES,
  V2_HELLO_BYTES,
  V2_INITIATE_BYTES,
  V2_INITIATE_PLAINTEXT_BYTES,
  V2_READY_RANDOM_BYTES,
  V2_TYPE_BYTES,
  V2_VOUCH_BOX_BYTES,
  V2_VOUCH_PLAINTEXT_BYTES,
} from './constants.js';
import type { Suite } from './constants.js';

export interface HelloLayout {
  suite: number;
  clientEphemeralKey: number;
  encapsulationKey: number;
  /** The box (16 bytes: an empty plaintext's tag). Everything before it is hashed into h1. */
  box: number;
  end: number;
}

/** Hello: `magic · suite · EC · ek (suite 2) · box("")`. */
export function helloLayout(suite: Suite): HelloLayout {
  const encapsulationKey = MAGIC_BYTES + 1 + KEY_BYTES;
  const box = encapsulationKey + SUITE_EK_BYTES[suite];
  return { suite: MAGIC_BYTES, clientEphemeralKey: MAGIC_BYTES + 1, encapsulationKey, box, end: box + BOX_OVERHEAD };
}

export interface CookieBoxLayout {
  serverEphemeralKey: number;
  ciphertext: number;
  cookie: number;
  end: number;
}

/** Cookie box plaintext: `ES · ct (suite 2) · K`. */
export function cookieBoxLayout(suite: Suite): CookieBoxLayout {
  const ciphertext = KEY_BYTES;
  const cookie = ciphertext + SUITE_CT_BYTES[suite];
  return { serverEphemeralKey: 0, ciphertext, cookie, end: cookie + V2_COOKIE_BYTES };
}

/** Cookie packet: `magic · n24 · box(ES · ct · K)`. */
export function cookiePacketLayout(suite: Suite): { nonce24: number; box: number; end: number } {
  const box = MAGIC_BYTES + NONCE_BYTES;
  return { nonce24: MAGIC_BYTES, box, end: box + cookieBoxLayout(suite).end + BOX_OVERHEAD };
}

/** What the v2 cookie seals: `EC · ESs · ck3 · h2 · expiry:u64`. */
export const V2_COOKIE_CONTENTS = {
  clientEphemeralKey: 0,
  serverEphemeralSecretKey: KEY_BYTES,
  chainingKey: 2 * KEY_BYTES,
  transcript: 3 * KEY_BYTES,
  expiry: 3 * KEY_BYTES + HASH_BYTES,
  end: 3 * KEY_BYTES + HASH_BYTES + COUNTER_BYTES,
} as const;

/** The v2 cookie K: `k16 · box(contents)`, its nonce `"ctun2-ck" · k16`. */
export const V2_COOKIE = {
  k16: 0,
  box: SAFE_NONCE_BYTES,
  end: SAFE_NONCE_BYTES + V2_COOKIE_CONTENTS.end + BOX_OVERHEAD,
} as const;

/** The vouch plaintext: `purpose · EC · S · h2`. */
export const V2_VOUCH = {
  purpose: 0,
  clientEphemeralKey: 16,
  serverKey: 16 + KEY_BYTES,
  transcript: 16 + 2 * KEY_BYTES,
  end: 16 + 2 * KEY_BYTES + HASH_BYTES,
} as const;

/** The Initiate plaintext: `C · v16 · vouch box · maxMessageBytes:u32`. */
export const V2_INITIATE_PLAINTEXT = {
  clientKey: 0,
  nonce16: KEY_BYTES,
  vouch: KEY_BYTES + SAFE_NONCE_BYTES,
  maxMessageBytes: KEY_BYTES + SAFE_NONCE_BYTES + V2_VOUCH_BOX_BYTES,
  end: KEY_BYTES + SAFE_NONCE_BYTES + V2_VOUCH_BOX_BYTES + 4,
} as const;

/** The Initiate packet: `magic · K · box(plaintext)`. */
export const V2_INITIATE = {
  cookie: MAGIC_BYTES,
  box: MAGIC_BYTES + V2_COOKIE_BYTES,
  end: MAGIC_BYTES + V2_COOKIE_BYTES + V2_INITIATE_PLAINTEXT.end + BOX_OVERHEAD,
} as const;

/** READY's body: `R · maxMessageBytes:u32`. */
export const V2_READY = { random: 0, maxMessageBytes: V2_READY_RANDOM_BYTES, end: V2_READY_RANDOM_BYTES + 4 } as const;
/** REJECT's body: `reason:u8 · retryAfterMs:u32 · zero bytes` (as long as READY's). */
export const V2_REJECT = { reason: 0, retryAfterMs: 1, zeros: 5, end: V2_FIRST_BODY_BYTES } as const;

// The sizes PROTOCOL.md states and the layouts above must agree (checked once, at load).
for (const [name, layout, stated] of [
  ['v2 Hello (suite 1)', helloLayout(SUITE_CLASSICAL).end, V2_HELLO_BYTES[SUITE_CLASSICAL]],
  ['v2 Hello (suite 2)', helloLayout(SUITE_HYBRID).end, V2_HELLO_BYTES[SUITE_HYBRID]],
  ['v2 Cookie (suite 1)', cookiePacketLayout(SUITE_CLASSICAL).end, V2_COOKIE_PACKET_BYTES[SUITE_CLASSICAL]],
  ['v2 Cookie (suite 2)', cookiePacketLayout(SUITE_HYBRID).end, V2_COOKIE_PACKET_BYTES[SUITE_HYBRID]],
  ['v2 cookie contents', V2_COOKIE_CONTENTS.end, V2_COOKIE_CONTENTS_BYTES],
  ['v2 cookie', V2_COOKIE.end, V2_COOKIE_BYTES],
  ['v2 vouch plaintext', V2_VOUCH.end, V2_VOUCH_PLAINTEXT_BYTES],
  ['v2 Initiate plaintext', V2_INITIATE_PLAINTEXT.end, V2_INITIATE_PLAINTEXT_BYTES],
  ['v2 Initiate', V2_INITIATE.end, V2_INITIATE_BYTES],
  ['READY body', V2_READY.end, V2_FIRST_BODY_BYTES],
] as const) {
  if (layout !== stated) throw new Error(`curvetun: the ${name} layout is ${layout} bytes, the protocol says ${stated}`);
}

/**
 * A whole v2 session frame: `length:u16be · box(type · body)`. The sender writes type and body at
 * their places and seals them in place, so a message is copied once, into its frame.
 */
export const V2_SESSION_FRAME = {
  box: FRAME_HEADER_BYTES,
  type: FRAME_HEADER_BYTES + BOX_OVERHEAD,
  body: FRAME_HEADER_BYTES + BOX_OVERHEAD + V2_TYPE_BYTES,
} as const;
