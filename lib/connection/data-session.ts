/**
 * What the socket needs from a connected session, whatever the protocol version: v1's `Session`
 * (session.ts) and v2's `SessionV2` (session-v2.ts) both provide it, so the socket, its outbox and
 * its inbox never look at version-specific bytes.
 */
export type Protocol = 'v1' | 'v2';

export interface DataSession {
  readonly protocol: Protocol;
  /** True once no further message can be sent without reusing a nonce. */
  readonly exhausted: boolean;
  /** The largest message one `send()` may carry to this peer. */
  readonly maxSendBytes: number;
  /** Bytes of the whole wire frame (length prefix included) that carries a `length`-byte message. */
  frameBytes(length: number): number;
  /** Seal `message` as a whole wire frame of its own. Throws `ETOOBIG` / `ECLOSED` (nothing sealed). */
  seal(message: Uint8Array): Uint8Array;
  /** The same, written at `out[offset]` (the caller made room for `frameBytes(message.length)`). */
  sealInto(message: Uint8Array, out: Uint8Array, offset: number): void;
  /**
   * Open one received frame payload: the application message it carries, or `null` when it was a
   * control message the session handled itself. Throws `EAUTH` (does not open) or `EPROTO`.
   */
  receive(frame: Uint8Array): Uint8Array | null;
}
