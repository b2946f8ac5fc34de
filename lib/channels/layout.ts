/**
 * The channel protocol's numbers and byte layouts, written down once (PROTOCOL.md, "Channels").
 *
 * Channels ride inside ordinary curvetun messages: one message carries exactly one channel frame,
 * so the message's length is the frame's length and no length field is needed. Every frame starts
 * with the same header, `version:u8 · type:u8 · channel:u32be`; the body after it depends on the
 * type. The encoders and decoders (frames.ts) use these names and no bare offsets.
 */
import { MAX_MESSAGE_BYTES } from '../protocol/constants.js';

/** The one version this code speaks; any other is refused (EPROTO). */
export const CHANNEL_PROTOCOL_VERSION = 1;

/** Frame type codes, as on the wire. */
export const FRAME_TYPE = {
  open: 1,
  accept: 2,
  refuse: 3,
  data: 4,
  eof: 5,
  close: 6,
  window: 7,
} as const;
export type ChannelFrameType = keyof typeof FRAME_TYPE;

/** Why an open was refused, as on the wire (RefuseReason names them in the API). */
export const REFUSE_REASON = {
  'not-allowed': 1,
  'connection-refused': 2,
  'timed-out': 3,
  'too-many-channels': 4,
  unreachable: 5,
  failed: 6,
} as const;
export type RefuseReason = keyof typeof REFUSE_REASON;

/** How a channel ended, carried by CLOSE: cleanly after both EOFs, abandoned, or for a broken rule. */
export const CLOSE_CODE = {
  done: 0,
  aborted: 1,
  protocol: 2,
} as const;
export type CloseCode = keyof typeof CLOSE_CODE;

/** Sizes of the fields. */
export const VERSION_BYTES = 1;
export const TYPE_BYTES = 1;
export const CHANNEL_ID_BYTES = 4;
export const WINDOW_BYTES = 4;
export const PORT_BYTES = 2;
export const HOST_LENGTH_BYTES = 1;
export const REASON_BYTES = 1;
export const CLOSE_CODE_BYTES = 1;

/** The header every frame starts with: `version · type · channel`. */
export const HEADER = {
  version: 0,
  type: VERSION_BYTES,
  channel: VERSION_BYTES + TYPE_BYTES,
  end: VERSION_BYTES + TYPE_BYTES + CHANNEL_ID_BYTES,
} as const;

/** OPEN: `header · window:u32be · port:u16be · hostLength:u8 · host` (host runs to the frame's end). */
export const OPEN = {
  window: HEADER.end,
  port: HEADER.end + WINDOW_BYTES,
  hostLength: HEADER.end + WINDOW_BYTES + PORT_BYTES,
  host: HEADER.end + WINDOW_BYTES + PORT_BYTES + HOST_LENGTH_BYTES,
} as const;

/** ACCEPT: `header · window:u32be`. */
export const ACCEPT = { window: HEADER.end, end: HEADER.end + WINDOW_BYTES } as const;

/** REFUSE: `header · reason:u8`. */
export const REFUSE = { reason: HEADER.end, end: HEADER.end + REASON_BYTES } as const;

/** DATA: `header · bytes` (1 or more, to the frame's end). */
export const DATA = { bytes: HEADER.end } as const;

/** EOF: the header alone. */
export const EOF = { end: HEADER.end } as const;

/** CLOSE: `header · code:u8`. */
export const CLOSE = { code: HEADER.end, end: HEADER.end + CLOSE_CODE_BYTES } as const;

/** WINDOW: `header · increment:u32be` (at least 1). */
export const WINDOW = { increment: HEADER.end, end: HEADER.end + WINDOW_BYTES } as const;

/**
 * A frame is at most one v1 message, whatever the session underneath could carry, so the channel
 * layer behaves the same over v1 and v2 sessions.
 */
export const MAX_CHANNEL_FRAME_BYTES = MAX_MESSAGE_BYTES;
/** The most bytes one DATA frame carries. */
export const MAX_DATA_BYTES = MAX_CHANNEL_FRAME_BYTES - DATA.bytes;
/** A target host is an IP address or a DNS name: at most 253 characters. */
export const MAX_HOST_BYTES = 253;
/** The largest window or credit a side may hold: a window lives in 32 bits. */
export const MAX_WINDOW = 0xffff_ffff;
/** Channel ids are 32-bit; 0 is reserved for the session itself (no frame may name it). */
export const MAX_CHANNEL_ID = 0xffff_ffff;
