/**
 * The v2 session's plaintexts: `type (1) · body`, sealed as one box per frame (PROTOCOL.md,
 * "v2 session"). One encoder per type and one decoder for all; the decoder checks each type's
 * body size and returns a typed message or throws `EPROTO` (unknown type, wrong size, a REJECT
 * with an unknown reason or non-zero padding, a CLOSE reason that is not UTF-8). Rules that need
 * the connection's state (READY only first, fragments in order, limits) belong to the session.
 */
import { CurvetunError, ProtocolError } from '../../errors.js';
import { checkAnnouncedLimit, readU32, writeU32 } from './boxes.js';
import {
  MessageType,
  REJECT_REASON_NAMES,
  RejectReason,
  V2_CLOSE_REASON_MAX_BYTES,
  V2_FIRST_BODY_BYTES,
  V2_MAX_BODY_BYTES,
  V2_PING_BYTES,
  V2_READY_RANDOM_BYTES,
  V2_TYPE_BYTES,
} from './constants.js';
import type { RejectReasonName } from './constants.js';
import { V2_READY, V2_REJECT } from './layout.js';

export type SessionMessage =
  | { type: 'ready'; random: Uint8Array; maxMessageBytes: number }
  | { type: 'reject'; reason: RejectReasonName; retryAfterMs: number }
  | { type: 'data'; body: Uint8Array }
  | { type: 'fragment-first'; total: number; part: Uint8Array }
  | { type: 'fragment-more'; part: Uint8Array }
  | { type: 'end' }
  | { type: 'close'; code: number; reason: string }
  | { type: 'ping'; payload: Uint8Array }
  | { type: 'pong'; payload: Uint8Array }
  | { type: 'key-update' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function plaintextOf(type: number, bodyLength: number): Uint8Array {
  const out = new Uint8Array(V2_TYPE_BYTES + bodyLength);
  out[0] = type;
  return out;
}

/** READY: `0x01 · R (32) · maxMessageBytes:u32`. */
export function encodeReady(random: Uint8Array, maxMessageBytes: number): Uint8Array {
  if (!(random instanceof Uint8Array) || random.length !== V2_READY_RANDOM_BYTES) throw new CurvetunError('EINVAL', 'READY carries 32 random bytes');
  checkAnnouncedLimit(maxMessageBytes, 'we');
  const out = plaintextOf(MessageType.READY, V2_FIRST_BODY_BYTES);
  out.set(random, V2_TYPE_BYTES + V2_READY.random);
  writeU32(out, V2_TYPE_BYTES + V2_READY.maxMessageBytes, maxMessageBytes);
  return out;
}

/** REJECT: `0x02 · reason:u8 · retryAfterMs:u32 · 31 zero bytes`. */
export function encodeReject(reason: RejectReasonName, retryAfterMs = 0): Uint8Array {
  const byte = RejectReason[reason];
  if (byte === undefined) throw new CurvetunError('EINVAL', `unknown REJECT reason '${String(reason)}'`);
  if (!Number.isInteger(retryAfterMs) || retryAfterMs < 0 || retryAfterMs > 0xffff_ffff) throw new CurvetunError('EINVAL', 'retryAfterMs is a u32');
  const out = plaintextOf(MessageType.REJECT, V2_FIRST_BODY_BYTES);
  out[V2_TYPE_BYTES + V2_REJECT.reason] = byte;
  writeU32(out, V2_TYPE_BYTES + V2_REJECT.retryAfterMs, retryAfterMs);
  return out;
}

/** A control message with no body or a fixed one: END, KEY_UPDATE, PING, PONG. */
export function encodeControl(type: 'end' | 'key-update'): Uint8Array;
export function encodeControl(type: 'ping' | 'pong', payload: Uint8Array): Uint8Array;
export function encodeControl(type: 'end' | 'key-update' | 'ping' | 'pong', payload?: Uint8Array): Uint8Array {
  if (type === 'end') return plaintextOf(MessageType.END, 0);
  if (type === 'key-update') return plaintextOf(MessageType.KEY_UPDATE, 0);
  if (!(payload instanceof Uint8Array) || payload.length !== V2_PING_BYTES) throw new CurvetunError('EINVAL', 'PING and PONG carry 8 bytes');
  const out = plaintextOf(type === 'ping' ? MessageType.PING : MessageType.PONG, V2_PING_BYTES);
  out.set(payload, V2_TYPE_BYTES);
  return out;
}

/** CLOSE: `0x21 · code:u16 · reason (UTF-8, at most 256 bytes)`. */
export function encodeClose(code: number, reason = ''): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) throw new CurvetunError('EINVAL', 'a CLOSE code is a u16');
  const text = Buffer.from(reason, 'utf8');
  if (text.length > V2_CLOSE_REASON_MAX_BYTES) throw new CurvetunError('EINVAL', `a CLOSE reason is at most ${V2_CLOSE_REASON_MAX_BYTES} bytes of UTF-8`);
  const out = plaintextOf(MessageType.CLOSE, 2 + text.length);
  out[1] = code >>> 8;
  out[2] = code & 0xff;
  out.set(text, 3);
  return out;
}

/** FRAGMENT_FIRST `0x11 · total:u32 · part` or FRAGMENT_MORE `0x12 · part`. */
export function encodeFragment(part: Uint8Array, total?: number): Uint8Array {
  const header = total === undefined ? 0 : 4;
  if (!(part instanceof Uint8Array) || part.length < 1 || part.length + header > V2_MAX_BODY_BYTES) {
    throw new CurvetunError('EINVAL', `a fragment carries 1 to ${V2_MAX_BODY_BYTES - header} bytes`);
  }
  const out = plaintextOf(total === undefined ? MessageType.FRAGMENT_MORE : MessageType.FRAGMENT_FIRST, header + part.length);
  if (total !== undefined) writeU32(out, 1, total);
  out.set(part, 1 + header);
  return out;
}

function sized(body: Uint8Array, size: number, name: string): void {
  if (body.length !== size) throw new ProtocolError(`a ${name} body is ${size} bytes, got ${body.length}`);
}

/** Decode one opened session plaintext. Views into it; `EPROTO` for anything malformed. */
export function decodeSessionMessage(plaintext: Uint8Array): SessionMessage {
  if (!(plaintext instanceof Uint8Array) || plaintext.length < V2_TYPE_BYTES) throw new ProtocolError('a session message has no type byte');
  const body = plaintext.subarray(V2_TYPE_BYTES);
  switch (plaintext[0]) {
    case MessageType.DATA:
      return { type: 'data', body };
    case MessageType.READY:
      sized(body, V2_FIRST_BODY_BYTES, 'READY');
      return {
        type: 'ready',
        random: body.subarray(V2_READY.random, V2_READY.maxMessageBytes),
        maxMessageBytes: checkAnnouncedLimit(readU32(body, V2_READY.maxMessageBytes), 'the server'),
      };
    case MessageType.REJECT: {
      sized(body, V2_FIRST_BODY_BYTES, 'REJECT');
      const reason = REJECT_REASON_NAMES.get(body[V2_REJECT.reason]!);
      if (reason === undefined) throw new ProtocolError(`unknown REJECT reason ${body[V2_REJECT.reason]}`);
      for (let i = V2_REJECT.zeros; i < V2_REJECT.end; i++) if (body[i] !== 0) throw new ProtocolError('a REJECT body must end in zero bytes');
      return { type: 'reject', reason, retryAfterMs: readU32(body, V2_REJECT.retryAfterMs) };
    }
    case MessageType.FRAGMENT_FIRST: {
      if (body.length < 5) throw new ProtocolError('a FRAGMENT_FIRST carries a u32 total and at least one byte');
      const total = readU32(body, 0);
      if (total <= V2_MAX_BODY_BYTES) throw new ProtocolError(`a fragmented message is longer than ${V2_MAX_BODY_BYTES} bytes, got a total of ${total}`);
      const part = body.subarray(4);
      if (part.length >= total) throw new ProtocolError('a first fragment as long as its whole message');
      return { type: 'fragment-first', total, part };
    }
    case MessageType.FRAGMENT_MORE:
      if (body.length < 1) throw new ProtocolError('an empty FRAGMENT_MORE');
      return { type: 'fragment-more', part: body };
    case MessageType.END:
      sized(body, 0, 'END');
      return { type: 'end' };
    case MessageType.CLOSE: {
      if (body.length < 2 || body.length > 2 + V2_CLOSE_REASON_MAX_BYTES) throw new ProtocolError('a CLOSE body is a u16 code and at most 256 bytes of reason');
      let reason: string;
      try {
        reason = utf8.decode(body.subarray(2));
      } catch {
        throw new ProtocolError('a CLOSE reason that is not UTF-8');
      }
      return { type: 'close', code: (body[0]! << 8) | body[1]!, reason };
    }
    case MessageType.PING:
      sized(body, V2_PING_BYTES, 'PING');
      return { type: 'ping', payload: body };
    case MessageType.PONG:
      sized(body, V2_PING_BYTES, 'PONG');
      return { type: 'pong', payload: body };
    case MessageType.KEY_UPDATE:
      sized(body, 0, 'KEY_UPDATE');
      return { type: 'key-update' };
    default:
      throw new ProtocolError(`unknown session message type 0x${plaintext[0]!.toString(16).padStart(2, '0')}`);
  }
}
