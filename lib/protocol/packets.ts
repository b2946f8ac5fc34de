/**
 * Encode and decode the four packets (frame payloads). Decoding returns views into the payload,
 * not copies: callers that keep a field beyond the payload's life copy it themselves.
 */
import { CurvetunError, ProtocolError } from '../errors.js';
import {
  BOX_OVERHEAD,
  COOKIE_BOX_BYTES,
  COOKIE_BYTES,
  FRAME_HEADER_BYTES,
  HELLO_BOX_BYTES,
  KEY_BYTES,
  MAGIC_BYTES,
  MAGIC_COOKIE,
  MAGIC_HELLO,
  MAGIC_MESSAGE,
  MAGIC_VOUCH,
  MAX_FRAME_PAYLOAD,
  MAX_MESSAGE_BYTES,
  MESSAGE_OVERHEAD,
  SAFE_NONCE_BYTES,
  VOUCH_BOX_BYTES,
} from './constants.js';
import { allocMessageFrame } from './frame.js';
import { COOKIE_PACKET, HELLO, MESSAGE, MESSAGE_FRAME, VOUCH } from './layout.js';
import { readCounter, writeCounter } from './nonce.js';

/** C → S: `EC · N · box(64 zero bytes)`. */
export interface HelloPacket {
  type: 'hello';
  clientEphemeralKey: Uint8Array;
  counter: number;
  box: Uint8Array;
}

/** S → C: `n16 · box(ES · K)`. */
export interface CookiePacket {
  type: 'cookie';
  nonce16: Uint8Array;
  box: Uint8Array;
}

/** C → S: `K · N · box(C · v16 · V)`. */
export interface VouchPacket {
  type: 'vouch';
  cookie: Uint8Array;
  counter: number;
  box: Uint8Array;
}

/** Both ways: `N · box(message)`. */
export interface MessagePacket {
  type: 'message';
  counter: number;
  box: Uint8Array;
}

export type Packet = HelloPacket | CookiePacket | VouchPacket | MessagePacket;

function field(name: string, value: Uint8Array, size: number): void {
  if (!(value instanceof Uint8Array) || value.length !== size) {
    throw new CurvetunError('EINVAL', `${name} must be ${size} bytes`);
  }
}

function start(magic: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(magic, 0);
  return out;
}

export function encodeHello(p: Omit<HelloPacket, 'type'>): Uint8Array {
  field('Hello ephemeral key', p.clientEphemeralKey, KEY_BYTES);
  field('Hello box', p.box, HELLO_BOX_BYTES);
  const out = start(MAGIC_HELLO, HELLO.end);
  out.set(p.clientEphemeralKey, HELLO.clientEphemeralKey);
  writeCounter(out, HELLO.counter, p.counter);
  out.set(p.box, HELLO.box);
  return out;
}

export function encodeCookie(p: Omit<CookiePacket, 'type'>): Uint8Array {
  field('Cookie nonce', p.nonce16, SAFE_NONCE_BYTES);
  field('Cookie box', p.box, COOKIE_BOX_BYTES);
  const out = start(MAGIC_COOKIE, COOKIE_PACKET.end);
  out.set(p.nonce16, COOKIE_PACKET.nonce16);
  out.set(p.box, COOKIE_PACKET.box);
  return out;
}

export function encodeVouch(p: Omit<VouchPacket, 'type'>): Uint8Array {
  field('Vouch cookie', p.cookie, COOKIE_BYTES);
  field('Vouch box', p.box, VOUCH_BOX_BYTES);
  const out = start(MAGIC_VOUCH, VOUCH.end);
  out.set(p.cookie, VOUCH.cookie);
  writeCounter(out, VOUCH.counter, p.counter);
  out.set(p.box, VOUCH.box);
  return out;
}

/** A Message payload (no frame header), through the same writer as every sent message frame. */
export function encodeMessage(p: Omit<MessagePacket, 'type'>): Uint8Array {
  if (!(p.box instanceof Uint8Array) || p.box.length < BOX_OVERHEAD || p.box.length > MAX_MESSAGE_BYTES + BOX_OVERHEAD) {
    throw new CurvetunError('EINVAL', `a Message box is ${BOX_OVERHEAD} to ${MAX_MESSAGE_BYTES + BOX_OVERHEAD} bytes`);
  }
  const frame = allocMessageFrame(p.counter, p.box.length - BOX_OVERHEAD);
  frame.set(p.box, MESSAGE_FRAME.box);
  return new Uint8Array(frame.buffer, frame.byteOffset + FRAME_HEADER_BYTES, frame.length - FRAME_HEADER_BYTES);
}

function sameMagic(payload: Uint8Array, magic: Uint8Array): boolean {
  for (let i = 0; i < MAGIC_BYTES; i++) if (payload[i] !== magic[i]) return false;
  return true;
}

function counterAt(payload: Uint8Array, offset: number, packet: string): number {
  const counter = readCounter(payload, offset);
  if (counter === null) throw new ProtocolError(`${packet} counter is beyond 2^53-1, which curvetun does not support`);
  return counter;
}

function exactSize(payload: Uint8Array, size: number, packet: string): void {
  if (payload.length !== size) {
    throw new ProtocolError(`a ${packet} packet is ${size} bytes, got ${payload.length}`);
  }
}

/**
 * Decode one frame payload. Throws `ProtocolError` (code `EPROTO`) saying what is wrong when the
 * payload is not one of the four packets with its exact size.
 */
export function decodePacket(payload: Uint8Array): Packet {
  if (payload.length < MAGIC_BYTES) {
    throw new ProtocolError(`a packet is at least ${MAGIC_BYTES} bytes, got ${payload.length}`);
  }
  if (payload.length > MAX_FRAME_PAYLOAD) {
    throw new ProtocolError(`a packet is at most ${MAX_FRAME_PAYLOAD} bytes, got ${payload.length}`);
  }
  if (sameMagic(payload, MAGIC_MESSAGE)) {
    if (payload.length < MESSAGE_OVERHEAD) {
      throw new ProtocolError(`a Message packet is at least ${MESSAGE_OVERHEAD} bytes, got ${payload.length}`);
    }
    return { type: 'message', counter: counterAt(payload, MESSAGE.counter, 'Message'), box: payload.subarray(MESSAGE.box) };
  }
  if (sameMagic(payload, MAGIC_HELLO)) {
    exactSize(payload, HELLO.end, 'Hello');
    return {
      type: 'hello',
      clientEphemeralKey: payload.subarray(HELLO.clientEphemeralKey, HELLO.counter),
      counter: counterAt(payload, HELLO.counter, 'Hello'),
      box: payload.subarray(HELLO.box, HELLO.end),
    };
  }
  if (sameMagic(payload, MAGIC_COOKIE)) {
    exactSize(payload, COOKIE_PACKET.end, 'Cookie');
    return { type: 'cookie', nonce16: payload.subarray(COOKIE_PACKET.nonce16, COOKIE_PACKET.box), box: payload.subarray(COOKIE_PACKET.box, COOKIE_PACKET.end) };
  }
  if (sameMagic(payload, MAGIC_VOUCH)) {
    exactSize(payload, VOUCH.end, 'Vouch');
    return {
      type: 'vouch',
      cookie: payload.subarray(VOUCH.cookie, VOUCH.counter),
      counter: counterAt(payload, VOUCH.counter, 'Vouch'),
      box: payload.subarray(VOUCH.box, VOUCH.end),
    };
  }
  throw new ProtocolError(`unknown packet magic ${Buffer.from(payload.subarray(0, MAGIC_BYTES)).toString('hex')}`);
}
