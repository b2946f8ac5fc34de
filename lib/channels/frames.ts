/**
 * Encoding and decoding channel frames (layouts in layout.ts): pure functions, no I/O.
 *
 * The decoder is strict: every frame has exactly its type's size (DATA and OPEN run to the end of
 * the message), every field is in range, and a target host must be in its one canonical spelling
 * (lower-case name without a trailing dot, or canonical IP text), so a frame has one reading only.
 * Anything else is a ProtocolError (`EPROTO`).
 */
import { CurvetunError, ProtocolError } from '../errors.js';
import { canonicalAddress, normalizeName } from '../net/patterns.js';
import {
  ACCEPT,
  CHANNEL_PROTOCOL_VERSION,
  CLOSE,
  CLOSE_CODE,
  DATA,
  EOF,
  FRAME_TYPE,
  HEADER,
  MAX_CHANNEL_FRAME_BYTES,
  MAX_DATA_BYTES,
  MAX_HOST_BYTES,
  MAX_WINDOW,
  OPEN,
  REFUSE,
  REFUSE_REASON,
  WINDOW,
} from './layout.js';
import type { CloseCode, RefuseReason } from './layout.js';

/** Where a channel leads: a TCP host (IP address or DNS name) and port, as the opener asked. */
export interface ChannelTarget {
  host: string;
  port: number;
}

export type ChannelFrame =
  | { type: 'open'; channel: number; window: number; target: ChannelTarget }
  | { type: 'accept'; channel: number; window: number }
  | { type: 'refuse'; channel: number; reason: RefuseReason }
  | { type: 'data'; channel: number; bytes: Uint8Array }
  | { type: 'eof'; channel: number }
  | { type: 'close'; channel: number; code: CloseCode }
  | { type: 'window'; channel: number; increment: number };

const TYPE_NAME = invert(FRAME_TYPE);
const REASON_NAME = invert(REFUSE_REASON);
const CLOSE_NAME = invert(CLOSE_CODE);

function invert<K extends string>(table: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(table).map(([name, code]) => [code as number, name as K]));
}

/**
 * The canonical spelling of a target host (IP text or lower-case name without trailing dot), or
 * `null` when it is neither.
 */
export function canonicalHost(host: string): string | null {
  if (typeof host !== 'string' || host.length === 0 || host.length > MAX_HOST_BYTES) return null;
  if (host.includes('%')) return null; // a zone index names an interface of the opener's host, not ours
  return canonicalAddress(host) ?? normalizeName(host);
}

/** A target in canonical form; `EINVAL` when the host or port cannot be one. */
export function canonicalTarget(target: ChannelTarget): ChannelTarget {
  const host = canonicalHost(target?.host);
  if (host === null) throw new CurvetunError('EINVAL', 'a channel target host is an IP address or a DNS name');
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 0xffff) {
    throw new CurvetunError('EINVAL', 'a channel target port is 1 to 65535');
  }
  return { host, port: target.port };
}

function checkUint32(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min || value > MAX_WINDOW) {
    throw new CurvetunError('EINVAL', `${what} is an integer from ${min} to ${MAX_WINDOW}`);
  }
}

function header(size: number, type: number, channel: number): Buffer {
  checkUint32(channel, 'a channel id', 1);
  const out = Buffer.allocUnsafe(size);
  out[HEADER.version] = CHANNEL_PROTOCOL_VERSION;
  out[HEADER.type] = type;
  out.writeUInt32BE(channel, HEADER.channel);
  return out;
}

/**
 * A DATA frame carrying `pieces` joined (1 to MAX_DATA_BYTES bytes in all): one copy, straight
 * into the frame.
 */
export function encodeData(channel: number, pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  if (length < 1 || length > MAX_DATA_BYTES) throw new CurvetunError('EINVAL', `a DATA frame carries 1 to ${MAX_DATA_BYTES} bytes, got ${length}`);
  const out = header(DATA.bytes + length, FRAME_TYPE.data, channel);
  let at = DATA.bytes;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** Encode one frame; `EINVAL` for a field out of range (nothing a peer sends reaches here). */
export function encodeChannelFrame(frame: ChannelFrame): Uint8Array {
  const { channel } = frame;
  switch (frame.type) {
    case 'open': {
      checkUint32(frame.window, 'a window', 0);
      const target = canonicalTarget(frame.target);
      const host = Buffer.from(target.host, 'latin1');
      const out = header(OPEN.host + host.length, FRAME_TYPE.open, channel);
      out.writeUInt32BE(frame.window, OPEN.window);
      out.writeUInt16BE(target.port, OPEN.port);
      out[OPEN.hostLength] = host.length;
      out.set(host, OPEN.host);
      return out;
    }
    case 'accept': {
      checkUint32(frame.window, 'a window', 0);
      const out = header(ACCEPT.end, FRAME_TYPE.accept, channel);
      out.writeUInt32BE(frame.window, ACCEPT.window);
      return out;
    }
    case 'refuse': {
      const code = REFUSE_REASON[frame.reason];
      if (code === undefined) throw new CurvetunError('EINVAL', 'unknown refusal reason');
      const out = header(REFUSE.end, FRAME_TYPE.refuse, channel);
      out[REFUSE.reason] = code;
      return out;
    }
    case 'data':
      return encodeData(channel, [frame.bytes]);
    case 'eof':
      return header(EOF.end, FRAME_TYPE.eof, channel);
    case 'close': {
      const code = CLOSE_CODE[frame.code];
      if (code === undefined) throw new CurvetunError('EINVAL', 'unknown close code');
      const out = header(CLOSE.end, FRAME_TYPE.close, channel);
      out[CLOSE.code] = code;
      return out;
    }
    case 'window': {
      checkUint32(frame.increment, 'a window increment', 1);
      const out = header(WINDOW.end, FRAME_TYPE.window, channel);
      out.writeUInt32BE(frame.increment, WINDOW.increment);
      return out;
    }
  }
}

function exactly(bytes: Uint8Array, size: number, what: string): void {
  if (bytes.length !== size) throw new ProtocolError(`a channel ${what} frame is ${size} bytes, got ${bytes.length}`);
}

/**
 * Decode one frame (one whole message). DATA's bytes are a view of `bytes`, not a copy.
 * Throws ProtocolError (`EPROTO`) for anything that is not exactly one valid frame.
 */
export function decodeChannelFrame(bytes: Uint8Array): ChannelFrame {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('a channel frame is bytes');
  if (bytes.length < HEADER.end) throw new ProtocolError(`a channel frame has at least ${HEADER.end} bytes, got ${bytes.length}`);
  if (bytes.length > MAX_CHANNEL_FRAME_BYTES) throw new ProtocolError(`a channel frame has at most ${MAX_CHANNEL_FRAME_BYTES} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[HEADER.version] !== CHANNEL_PROTOCOL_VERSION) throw new ProtocolError(`unsupported channel protocol version ${bytes[HEADER.version]}`);
  const type = TYPE_NAME.get(bytes[HEADER.type]!);
  if (type === undefined) throw new ProtocolError(`unknown channel frame type ${bytes[HEADER.type]}`);
  const channel = view.getUint32(HEADER.channel);
  if (channel === 0) throw new ProtocolError('channel 0 is reserved for the session');
  switch (type) {
    case 'open': {
      if (bytes.length < OPEN.host + 1) throw new ProtocolError(`a channel open frame has at least ${OPEN.host + 1} bytes, got ${bytes.length}`);
      const hostLength = bytes[OPEN.hostLength]!;
      exactly(bytes, OPEN.host + hostLength, 'open');
      const port = view.getUint16(OPEN.port);
      if (port === 0) throw new ProtocolError('a channel target port is 1 to 65535');
      const host = Buffer.from(bytes.buffer, bytes.byteOffset + OPEN.host, hostLength).toString('latin1');
      if (canonicalHost(host) !== host) throw new ProtocolError('a channel target host is a canonical IP address or DNS name');
      return { type, channel, window: view.getUint32(OPEN.window), target: { host, port } };
    }
    case 'accept':
      exactly(bytes, ACCEPT.end, 'accept');
      return { type, channel, window: view.getUint32(ACCEPT.window) };
    case 'refuse': {
      exactly(bytes, REFUSE.end, 'refuse');
      const reason = REASON_NAME.get(bytes[REFUSE.reason]!);
      if (reason === undefined) throw new ProtocolError(`unknown refusal reason ${bytes[REFUSE.reason]}`);
      return { type, channel, reason };
    }
    case 'data':
      if (bytes.length === DATA.bytes) throw new ProtocolError('a channel data frame carries at least one byte');
      return { type, channel, bytes: bytes.subarray(DATA.bytes) };
    case 'eof':
      exactly(bytes, EOF.end, 'eof');
      return { type, channel };
    case 'close': {
      exactly(bytes, CLOSE.end, 'close');
      const code = CLOSE_NAME.get(bytes[CLOSE.code]!);
      if (code === undefined) throw new ProtocolError(`unknown channel close code ${bytes[CLOSE.code]}`);
      return { type, channel, code };
    }
    case 'window': {
      exactly(bytes, WINDOW.end, 'window');
      const increment = view.getUint32(WINDOW.increment);
      if (increment === 0) throw new ProtocolError('a window increment is at least 1');
      return { type, channel, increment };
    }
  }
}
