/**
 * The numbers of curvetun protocol v2 (PROTOCOL.md, "Protocol v2"): magics, suites, nonces, KDF
 * labels, sizes and message types. Every value here is v2-only: no magic, nonce prefix or label
 * equals or begins like a v1 one (checked at load below), so nothing v2 computes can be taken for
 * a v1 value. The byte offsets inside each packet and plaintext are named in layout.ts.
 */
import type { ErrorCode } from '../../errors.js';
import { BOX_OVERHEAD, COUNTER_BYTES, FRAME_HEADER_BYTES, KEY_BYTES, MAX_FRAME_PAYLOAD, NONCE_BYTES, SAFE_NONCE_BYTES } from '../constants.js';
import {
  MAGIC_COOKIE,
  MAGIC_HELLO,
  MAGIC_MESSAGE,
  MAGIC_VOUCH,
  PREFIX_CLIENT_MESSAGE,
  PREFIX_COOKIE,
  PREFIX_HELLO,
  PREFIX_INITIATE,
  PREFIX_MINUTE,
  PREFIX_SERVER_MESSAGE,
  PREFIX_VOUCH,
} from '../constants.js';

export { BOX_OVERHEAD, COUNTER_BYTES, FRAME_HEADER_BYTES, KEY_BYTES, NONCE_BYTES, SAFE_NONCE_BYTES };

const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
/** `text` followed by zero bytes up to 16 bytes (a nonce prefix or a purpose label). */
export function pad16(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const bytes = ascii(text);
  if (bytes.length > 16) throw new Error(`curvetun: '${text}' is longer than 16 bytes`);
  out.set(bytes, 0);
  return out;
}

/** SHA-256 output, the transcript hash and every chaining key and traffic secret. */
export const HASH_BYTES = 32;

// ---- Suites ------------------------------------------------------------------------------------

/** The suite byte of the Hello. 1: X25519 only. 2: X25519 + ML-KEM-768 (the default). */
export const SUITE_CLASSICAL = 1;
export const SUITE_HYBRID = 2;
export type Suite = typeof SUITE_CLASSICAL | typeof SUITE_HYBRID;

/** The protocol name hashed first into the transcript (h0): it names the post-quantum choice. */
export const PROTOCOL_NAME: Readonly<Record<Suite, Uint8Array>> = {
  [SUITE_CLASSICAL]: ascii('curvetun/2 X25519 XSalsa20-Poly1305 HKDF-SHA256'),
  [SUITE_HYBRID]: ascii('curvetun/2 X25519+ML-KEM-768 XSalsa20-Poly1305 HKDF-SHA256'),
};

export function isSuite(value: unknown): value is Suite {
  return value === SUITE_CLASSICAL || value === SUITE_HYBRID;
}

/** ML-KEM-768 (FIPS 203) sizes: encapsulation key, ciphertext, shared secret, key-generation seed, encapsulation message. */
export const MLKEM_EK_BYTES = 1184;
export const MLKEM_CT_BYTES = 1088;
export const MLKEM_SS_BYTES = 32;
export const MLKEM_SEED_BYTES = 64;
export const MLKEM_MESSAGE_BYTES = 32;

/** Bytes the suite adds to the Hello (the encapsulation key) and to the Cookie box (the ciphertext). */
export const SUITE_EK_BYTES: Readonly<Record<Suite, number>> = { [SUITE_CLASSICAL]: 0, [SUITE_HYBRID]: MLKEM_EK_BYTES };
export const SUITE_CT_BYTES: Readonly<Record<Suite, number>> = { [SUITE_CLASSICAL]: 0, [SUITE_HYBRID]: MLKEM_CT_BYTES };

// ---- Magics and nonces ---------------------------------------------------------------------------

export const MAGIC_BYTES = 8;
export const V2_MAGIC_HELLO = ascii('CTUN2HEL');
export const V2_MAGIC_COOKIE = ascii('CTUN2COK');
export const V2_MAGIC_INITIATE = ascii('CTUN2INI');

/** The Hello and Initiate boxes are sealed under keys used once, with these fixed nonces. */
export const V2_NONCE_HELLO = Uint8Array.from([...pad16('ctun2 hello'), ...new Uint8Array(COUNTER_BYTES)]);
export const V2_NONCE_INITIATE = Uint8Array.from([...pad16('ctun2 initiate'), ...new Uint8Array(COUNTER_BYTES)]);
/** Long-term nonce prefixes (8 bytes, then 16 bytes the key holder makes unique). */
export const V2_PREFIX_VOUCH = ascii('ctun2-vo');
export const V2_PREFIX_COOKIE = ascii('ctun2-ck');
/** Session nonce prefixes (16 bytes, then the u64 counter of that direction). */
export const V2_PREFIX_CLIENT_MESSAGE = pad16('ctun2 client msg');
export const V2_PREFIX_SERVER_MESSAGE = pad16('ctun2 server msg');
/** The first 16 bytes of the vouch plaintext: what the client's long-term key is vouching for. */
export const V2_VOUCH_PURPOSE = pad16('ctun2 vouch');

// ---- KDF labels (HKDF info strings, each followed by a transcript hash where PROTOCOL.md says) ----

export const LABEL = {
  cookieKey: ascii('ctun2 cookie key'),
  chainHello: ascii('ctun2 ck hello'),
  helloBox: ascii('ctun2 hello box'),
  cookieBox: ascii('ctun2 cookie box'),
  chainMlkem: ascii('ctun2 ck mlkem'),
  chainEphemeral: ascii('ctun2 ck ee'),
  initiateBox: ascii('ctun2 initiate box'),
  trafficServerToClient: ascii('ctun2 traffic s2c'),
  trafficClientToServer: ascii('ctun2 traffic c2s'),
  boxKey: ascii('ctun2 box key'),
  keyUpdate: ascii('ctun2 key update'),
} as const;

// ---- Sizes -----------------------------------------------------------------------------------------

/** The opaque v2 cookie K: k16 · box(EC · ESs · ck3 · h2 · expiry:u64). */
export const V2_COOKIE_CONTENTS_BYTES = 4 * KEY_BYTES + COUNTER_BYTES; // 136
export const V2_COOKIE_BYTES = SAFE_NONCE_BYTES + V2_COOKIE_CONTENTS_BYTES + BOX_OVERHEAD; // 168
/** The vouch: box(purpose · EC · S · h2) from the client's long-term key to ES. */
export const V2_VOUCH_PLAINTEXT_BYTES = 16 + 2 * KEY_BYTES + HASH_BYTES; // 112
export const V2_VOUCH_BOX_BYTES = V2_VOUCH_PLAINTEXT_BYTES + BOX_OVERHEAD; // 128
/** The Initiate plaintext: C · v16 · vouch box · maxMessageBytes:u32. */
export const V2_INITIATE_PLAINTEXT_BYTES = KEY_BYTES + SAFE_NONCE_BYTES + V2_VOUCH_BOX_BYTES + 4; // 180
export const V2_INITIATE_BYTES = MAGIC_BYTES + V2_COOKIE_BYTES + V2_INITIATE_PLAINTEXT_BYTES + BOX_OVERHEAD; // 372

/** Whole Hello and Cookie payloads per suite. */
export const V2_HELLO_BYTES: Readonly<Record<Suite, number>> = {
  [SUITE_CLASSICAL]: MAGIC_BYTES + 1 + KEY_BYTES + BOX_OVERHEAD, // 57
  [SUITE_HYBRID]: MAGIC_BYTES + 1 + KEY_BYTES + MLKEM_EK_BYTES + BOX_OVERHEAD, // 1241
};
export const V2_COOKIE_PACKET_BYTES: Readonly<Record<Suite, number>> = {
  [SUITE_CLASSICAL]: MAGIC_BYTES + NONCE_BYTES + KEY_BYTES + V2_COOKIE_BYTES + BOX_OVERHEAD, // 248
  [SUITE_HYBRID]: MAGIC_BYTES + NONCE_BYTES + KEY_BYTES + MLKEM_CT_BYTES + V2_COOKIE_BYTES + BOX_OVERHEAD, // 1336
};

// ---- The session ---------------------------------------------------------------------------------

/** A session frame's payload is box(type · body): 17 bytes more than the body. */
export const V2_TYPE_BYTES = 1;
export const V2_MESSAGE_OVERHEAD = BOX_OVERHEAD + V2_TYPE_BYTES;
/** The largest body of one frame, and so of one DATA message (65 518 bytes). */
export const V2_MAX_BODY_BYTES = MAX_FRAME_PAYLOAD - V2_MESSAGE_OVERHEAD;
/** Where the box starts in a whole session frame (after the length header). */
export const V2_FRAME_BOX_OFFSET = FRAME_HEADER_BYTES;

/** The type byte, first in every session plaintext. */
export const MessageType = {
  READY: 0x01,
  REJECT: 0x02,
  DATA: 0x10,
  FRAGMENT_FIRST: 0x11,
  FRAGMENT_MORE: 0x12,
  END: 0x20,
  CLOSE: 0x21,
  PING: 0x30,
  PONG: 0x31,
  KEY_UPDATE: 0x40,
} as const;
export type MessageTypeName = keyof typeof MessageType;
export type MessageTypeByte = (typeof MessageType)[MessageTypeName];

/** READY and REJECT bodies have one size, so an observer cannot tell them apart. */
export const V2_READY_RANDOM_BYTES = 32;
export const V2_FIRST_BODY_BYTES = V2_READY_RANDOM_BYTES + 4; // 36
/** READY's plaintext (type and body), hashed into h4. */
export const V2_READY_PLAINTEXT_BYTES = V2_TYPE_BYTES + V2_FIRST_BODY_BYTES; // 37
export const V2_PING_BYTES = 8;
export const V2_CLOSE_REASON_MAX_BYTES = 256;
/** A receiver's announced limit on one message is at most 2^30 bytes. */
export const V2_MAX_ANNOUNCED_MESSAGE_BYTES = 2 ** 30;

/**
 * Key update (PROTOCOL.md, "v2 key update"): a sender moves its direction to the next epoch after
 * this many frames, plaintext bytes or milliseconds in the current one, whichever comes first
 * (option `rekeyAfter` may lower each, never raise it). A receiver closes the connection
 * (`EPROTO`) when a peer's epoch goes past twice the frame or byte threshold.
 */
export const V2_REKEY_AFTER = { messages: 2 ** 20, bytes: 2 ** 30, ms: 120_000 } as const;
export const V2_EPOCH_CEILING = { frames: 2 ** 21, bytes: 2 ** 31 } as const;

/**
 * CLOSE codes (PROTOCOL.md, "END and CLOSE"). 0: a plain close. 1–999: curvetun's own, each a
 * failure its sender found in what the receiver sent or did, sent before it ends TCP; the
 * receiver reports the error code named in FAILURE_CLOSE. 1000–65 535: the application's
 * (`close({ code })`). Stable: a code keeps its meaning.
 */
export const CloseCode = {
  normal: 0,
  protocolViolation: 1,
  tooBig: 2,
  revoked: 3,
  idleTimeout: 4,
  notAuthentic: 5,
} as const;
export const FIRST_APPLICATION_CLOSE_CODE = 1000;
/** Whether `code` is in curvetun's own failure range (1–999), known to this version or not. */
export const isFailureCloseCode = (code: number) => code > 0 && code < FIRST_APPLICATION_CLOSE_CODE;

/** What each failure code says to its receiver, and the error code the receiver reports it as. */
export const FAILURE_CLOSE: ReadonlyMap<number, { error: ErrorCode; says: string }> = new Map([
  [CloseCode.protocolViolation, { error: 'EPROTO', says: 'what we sent broke the protocol' }],
  [CloseCode.tooBig, { error: 'ETOOBIG', says: 'we sent a message larger than it accepts' }],
  [CloseCode.revoked, { error: 'EAUTH', says: 'it no longer allows our key' }],
  [CloseCode.idleTimeout, { error: 'ETIMEDOUT', says: 'nothing arrived from us within its idleTimeout' }],
  [CloseCode.notAuthentic, { error: 'EAUTH', says: 'a frame from us did not authenticate (changed or forged on the way)' }],
]);

/** REJECT reasons (the byte), and the names `error.reason` carries. */
export const RejectReason = {
  'key-not-allowed': 1,
  'address-not-allowed': 2,
  'version-not-allowed': 3,
  busy: 4,
  replay: 5,
} as const;
export type RejectReasonName = keyof typeof RejectReason;
export const REJECT_REASON_NAMES: ReadonlyMap<number, RejectReasonName> = new Map(
  (Object.entries(RejectReason) as [RejectReasonName, number][]).map(([name, byte]) => [byte, name]),
);

// Rule 1 (domain separation), checked once at load: no v2 magic or prefix equals a v1 one.
{
  const v1 = [MAGIC_HELLO, MAGIC_COOKIE, MAGIC_VOUCH, MAGIC_MESSAGE, PREFIX_COOKIE, PREFIX_VOUCH, PREFIX_MINUTE];
  const v1Short = [PREFIX_HELLO, PREFIX_INITIATE, PREFIX_CLIENT_MESSAGE, PREFIX_SERVER_MESSAGE];
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const mine of [V2_MAGIC_HELLO, V2_MAGIC_COOKIE, V2_MAGIC_INITIATE, V2_PREFIX_VOUCH, V2_PREFIX_COOKIE]) {
    if (v1.some((theirs) => same(mine, theirs))) throw new Error('curvetun: a v2 magic or prefix equals a v1 one');
  }
  for (const mine of [V2_NONCE_HELLO.subarray(0, 16), V2_NONCE_INITIATE.subarray(0, 16), V2_PREFIX_CLIENT_MESSAGE, V2_PREFIX_SERVER_MESSAGE]) {
    if (v1Short.some((theirs) => same(mine, theirs))) throw new Error('curvetun: a v2 nonce prefix equals a v1 one');
  }
}
