/**
 * Every number that bounds curvetun, in two kinds kept apart:
 *
 * - Specification constants are fixed by the protocol (PROTOCOL.md): changing one changes the
 *   bytes on the wire or what a peer may send. They are defined in lib/protocol/constants.ts, the
 *   owner of the wire format, and listed here so both kinds can be read side by side.
 * - Implementation limits are our own choices: they bound memory, time and work per connection,
 *   never the bytes. Each says what it bounds; the `DEFAULT_` ones can be changed per listener or
 *   connection through the options of `listen()` / `connect()` (lib/connection/options.ts).
 *
 * A protocol v2 adds its own specification constants beside v1's, and its own limits here.
 */

// ---- Specification (curve_tun v1.0) -----------------------------------------------------------

export {
  MAX_FRAME_PAYLOAD,
  MAX_MESSAGE_BYTES,
  HELLO_COUNTER,
  VOUCH_COUNTER,
  FIRST_MESSAGE_COUNTER,
} from './protocol/constants.js';

// ---- Implementation: one connection ----------------------------------------------------------

/** The highest message counter we send or accept: counters are JavaScript numbers (2^53 - 1). */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;
/** Handshake deadline, ms: a peer that stalls is dropped (option `handshakeTimeout`). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Bytes of received, unconsumed messages above which TCP reading pauses (option `highWaterMark`). */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;

/** The two limits a socket is given (from the options, else the defaults above). */
export interface SocketLimits {
  /** Handshake deadline in ms: a peer that stalls is dropped. */
  handshakeTimeout: number;
  /** Bytes of received, unconsumed messages above which TCP reading pauses. */
  highWaterMark: number;
}

export const DEFAULT_LIMITS: SocketLimits = { handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT_MS, highWaterMark: DEFAULT_HIGH_WATER_MARK };
/**
 * Frames, and bytes, read ahead while the handshake runs before TCP reading pauses: what an
 * unfinished handshake can make us hold (a client may send messages right behind its Vouch).
 */
export const HANDSHAKE_READ_AHEAD_FRAMES = 8;
export const HANDSHAKE_READ_AHEAD_BYTES = 16 * 1024;
/** Outgoing frames up to this size are sealed into the shared slab; larger ones get their own buffer. */
export const SMALL_FRAME_BYTES = 4096;
/** The slab shared by every socket of the process for small outgoing frames. */
export const SLAB_BYTES = 64 * 1024;
/** Received messages at least this large are decrypted in place, over their own frame. */
export const IN_PLACE_MIN_BYTES = 16 * 1024;
/** After a clean close has flushed and sent FIN, how long the peer gets to close its side, ms. */
export const CLOSE_GRACE_MS = 2_000;
/** Stream mode's buffer each way, bytes (options `readableHighWaterMark` / `writableHighWaterMark`). */
export const DEFAULT_STREAM_HIGH_WATER_MARK = 256 * 1024;

// ---- Implementation: a listener --------------------------------------------------------------

/** Handshakes in progress at once; more connections are dropped at once (option `maxPendingHandshakes`). */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 1024;
/** Handshakes in progress at once from one address (option `maxPendingPerAddress`). */
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 64;
/** Connections that completed the handshake and wait for `accept()` (option `backlog`). */
export const DEFAULT_BACKLOG = 511;
/** The retry-after hint a busy v2 server puts in its REJECT (a full backlog or replay guard), ms. */
export const BUSY_RETRY_AFTER_MS = 1_000;

// ---- Implementation: protocol v2 ---------------------------------------------------------------

/** The largest message a v2 end accepts unless told otherwise (announced to the peer), bytes. */
export const DEFAULT_V2_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

// ---- Implementation: actors (lib/runtime/) ---------------------------------------------------

/** Deadline of one actor call, ms (`ActorSpec.callTimeoutMs`). */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** Supervision: restarts allowed within the window before the supervisor gives up. */
export const DEFAULT_MAX_RESTARTS = 5;
export const DEFAULT_RESTART_WINDOW_MS = 10_000;
/** First restart delay, doubling with each restart in the window up to the maximum. */
export const DEFAULT_RESTART_BACKOFF_MS = 20;
export const DEFAULT_RESTART_MAX_BACKOFF_MS = 2_000;
/** The shared-memory lane: requests in flight at once, and the size of each (header included). */
export const LANE_SLOTS = 64;
export const LANE_SLOT_BYTES = 1024;
/** How long an idle worker blocks on its lane before it lets its own event loop run, ms. */
export const LANE_IDLE_WAIT_MS = 50;
