/**
 * The numbers of the curve_tun v1.0 wire format. Each rule lives here once; PROTOCOL.md explains
 * them. The sizes of the NaCl primitives come from lib/crypto, and the byte offsets inside each
 * packet and box are named in layout.ts.
 * A v2 set would sit beside these (its own magics, sizes and layouts), not change them.
 */
import { KEY_BYTES, MAC_BYTES as BOX_OVERHEAD, NONCE_BYTES } from '../crypto/backend.js';

const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/** The 8-byte magic that opens each packet. */
export const MAGIC_HELLO = hex('6c09afb28aa9fafc');
export const MAGIC_COOKIE = hex('1c45dcb941c0e3f6');
export const MAGIC_VOUCH = hex('6c09afb28aa9fafd');
export const MAGIC_MESSAGE = hex('6d1b39cbf65a11b4');
export const MAGIC_BYTES = 8;

/** Frame: u16 big-endian payload length, then the payload. */
export const FRAME_HEADER_BYTES = 2;
export const MAX_FRAME_PAYLOAD = 0xffff;

/** Sizes of the primitives (a key, a nonce, a box's tag), defined with them in lib/crypto. */
export { KEY_BYTES, NONCE_BYTES, BOX_OVERHEAD };
export const COUNTER_BYTES = 8;
/** The vault's (and the cookie's) 16 nonce bytes after an 8-byte prefix. */
export const SAFE_NONCE_BYTES = 16;
/** Short-term nonce prefixes are 16 bytes (then the u64 counter), long-term ones 8. */
export const SHORT_TERM_PREFIX_BYTES = NONCE_BYTES - COUNTER_BYTES;
export const LONG_TERM_PREFIX_BYTES = NONCE_BYTES - SAFE_NONCE_BYTES;

/** Exact payload sizes of the handshake packets. */
export const HELLO_BYTES = 128;
export const COOKIE_PACKET_BYTES = 168;
export const VOUCH_BYTES = 224;
/** The opaque cookie K inside the Cookie packet and echoed in the Vouch. */
export const COOKIE_BYTES = 96;

/** The Hello box holds exactly this many zero bytes. */
export const HELLO_ZERO_BYTES = 64;
/** Box sizes inside the handshake packets. */
export const HELLO_BOX_BYTES = HELLO_ZERO_BYTES + BOX_OVERHEAD; // 80
export const COOKIE_BOX_BYTES = 144; // ES (32) · K (96) + tag
export const VOUCH_BOX_BYTES = 112; // C (32) · v16 (16) · V (48) + tag

/** A Message payload is magic · counter · box: 32 bytes more than the plaintext. */
export const MESSAGE_OVERHEAD = MAGIC_BYTES + COUNTER_BYTES + BOX_OVERHEAD;
export const MAX_MESSAGE_BYTES = MAX_FRAME_PAYLOAD - MESSAGE_OVERHEAD; // 65 503

/** Where the box starts inside a whole Message frame (length · magic · counter · box). */
export const MESSAGE_FRAME_BOX_OFFSET = FRAME_HEADER_BYTES + MAGIC_BYTES + COUNTER_BYTES;

/** Counters the handshake packets must carry, and the first message counter of each side. */
export const HELLO_COUNTER = 0;
export const VOUCH_COUNTER = 1;
export const FIRST_MESSAGE_COUNTER = 2;

/** Nonce prefixes. Short-term: 16 bytes + u64 counter. Long-term: 8 bytes + 16 safe-nonce bytes. */
export const PREFIX_HELLO = ascii('CurveCP-client-H');
export const PREFIX_INITIATE = ascii('CurveCP-client-I');
export const PREFIX_CLIENT_MESSAGE = ascii('CurveCP-client-M');
export const PREFIX_SERVER_MESSAGE = ascii('CurveCP-server-M');
export const PREFIX_COOKIE = ascii('CurveCPK');
export const PREFIX_VOUCH = ascii('CurveCPV');
export const PREFIX_MINUTE = ascii('minute-k');
