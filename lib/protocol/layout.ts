/**
 * Where each field sits: the byte offsets inside every v1 packet payload, the whole Message frame,
 * the plaintexts of the handshake's boxes, and the cookie. Each is derived from the sizes in
 * constants.ts, so a layout is written down once; the encoders and decoders (packets.ts,
 * frame.ts, boxes.ts) use these names and no bare numbers. `end` is the layout's whole size.
 */
import {
  BOX_OVERHEAD,
  COOKIE_BOX_BYTES,
  COOKIE_BYTES,
  COOKIE_PACKET_BYTES,
  COUNTER_BYTES,
  FRAME_HEADER_BYTES,
  HELLO_BOX_BYTES,
  HELLO_BYTES,
  KEY_BYTES,
  MAGIC_BYTES,
  MESSAGE_FRAME_BOX_OFFSET,
  SAFE_NONCE_BYTES,
  VOUCH_BOX_BYTES,
  VOUCH_BYTES,
} from './constants.js';

/** Hello payload: `magic · EC · counter · box(64 zero bytes)`. */
export const HELLO = {
  clientEphemeralKey: MAGIC_BYTES,
  counter: MAGIC_BYTES + KEY_BYTES,
  box: MAGIC_BYTES + KEY_BYTES + COUNTER_BYTES,
  end: MAGIC_BYTES + KEY_BYTES + COUNTER_BYTES + HELLO_BOX_BYTES,
} as const;

/** Cookie box plaintext: `ES · K`. */
export const COOKIE_BOX = {
  serverEphemeralKey: 0,
  cookie: KEY_BYTES,
  end: KEY_BYTES + COOKIE_BYTES,
} as const;

/** Cookie packet payload: `magic · n16 · box(ES · K)`. */
export const COOKIE_PACKET = {
  nonce16: MAGIC_BYTES,
  box: MAGIC_BYTES + SAFE_NONCE_BYTES,
  end: MAGIC_BYTES + SAFE_NONCE_BYTES + COOKIE_BOX.end + BOX_OVERHEAD,
} as const;

/** The vouch V: the client's long-term box around EC. */
export const VOUCH_SEAL_BYTES = KEY_BYTES + BOX_OVERHEAD;

/** Vouch box plaintext: `C · v16 · V`. */
export const VOUCH_BOX = {
  clientKey: 0,
  nonce16: KEY_BYTES,
  vouch: KEY_BYTES + SAFE_NONCE_BYTES,
  end: KEY_BYTES + SAFE_NONCE_BYTES + VOUCH_SEAL_BYTES,
} as const;

/** Vouch packet payload: `magic · K · counter · box(C · v16 · V)`. */
export const VOUCH = {
  cookie: MAGIC_BYTES,
  counter: MAGIC_BYTES + COOKIE_BYTES,
  box: MAGIC_BYTES + COOKIE_BYTES + COUNTER_BYTES,
  end: MAGIC_BYTES + COOKIE_BYTES + COUNTER_BYTES + VOUCH_BOX.end + BOX_OVERHEAD,
} as const;

/** Message payload: `magic · counter · box(message)` (the box runs to the payload's end). */
export const MESSAGE = {
  counter: MAGIC_BYTES,
  box: MAGIC_BYTES + COUNTER_BYTES,
} as const;

/** A whole Message frame: `length:u16be · magic · counter · box`. */
export const MESSAGE_FRAME = {
  magic: FRAME_HEADER_BYTES,
  counter: FRAME_HEADER_BYTES + MESSAGE.counter,
  box: FRAME_HEADER_BYTES + MESSAGE.box,
} as const;

/** Cookie contents, the plaintext sealed under the minute key: `EC · ESs`. */
export const COOKIE_CONTENTS = {
  clientEphemeralKey: 0,
  serverEphemeralSecretKey: KEY_BYTES,
  end: 2 * KEY_BYTES,
} as const;

/** The cookie K: `k16 · box(EC · ESs)` (its nonce is "minute-k" · k16). */
export const COOKIE = {
  k16: 0,
  box: SAFE_NONCE_BYTES,
  end: SAFE_NONCE_BYTES + COOKIE_CONTENTS.end + BOX_OVERHEAD,
} as const;

// The sizes the protocol states and the layouts derived above must agree (checked once, at load).
for (const [name, layout, stated] of [
  ['Hello', HELLO.end, HELLO_BYTES],
  ['Cookie packet', COOKIE_PACKET.end, COOKIE_PACKET_BYTES],
  ['Cookie box', COOKIE_BOX.end + BOX_OVERHEAD, COOKIE_BOX_BYTES],
  ['Vouch', VOUCH.end, VOUCH_BYTES],
  ['Vouch box', VOUCH_BOX.end + BOX_OVERHEAD, VOUCH_BOX_BYTES],
  ['cookie', COOKIE.end, COOKIE_BYTES],
  ['Message frame box offset', MESSAGE_FRAME.box, MESSAGE_FRAME_BOX_OFFSET],
] as const) {
  if (layout !== stated) throw new Error(`curvetun: the ${name} layout is ${layout} bytes, the protocol says ${stated}`);
}
