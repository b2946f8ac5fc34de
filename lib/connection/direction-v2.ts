/**
 * One direction of a v2 session (PROTOCOL.md, "v2 session"): its traffic secret T_d,n (epoch n),
 * box key K_d,n = KDF(T_d,n, "ctun2 box key"), and a counter 0, 1, 2, … for the connection's life,
 * never reset (not at a key update), never on the wire. The epoch's use (frames, plaintext bytes,
 * start time) is counted here, so the session can tell when a key update is due (sending) or a
 * peer has gone past the ceiling (receiving).
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { MAX_COUNTER } from '../limits.js';
import { NONCE_BYTES, shortTermNonce } from '../protocol/index.js';
import { V2_PREFIX_CLIENT_MESSAGE, V2_PREFIX_SERVER_MESSAGE, boxKeyOf, nextTrafficSecret } from '../protocol/v2/index.js';

/** Shared by every session of this thread; filled and used synchronously by each seal or open. */
const scratchNonce = new Uint8Array(NONCE_BYTES);

/**
 * How many counters past the expected one a frame that did not open is tried under, to tell a
 * deletion from a forgery. Only on the failure path, which ends the connection either way.
 */
export const DELETION_LOOK_AHEAD = 16;

export class Direction {
  private secret: Uint8Array;
  private key: Uint8Array;
  /** The counter of the next frame in this direction. */
  counter = 0;
  /** Key updates so far. */
  epoch = 0;
  /** Frames and plaintext bytes (type byte included) in this epoch, and when it began (ms). */
  epochFrames = 0;
  epochBytes = 0;
  epochStarted = Date.now();

  constructor(
    trafficSecret: Uint8Array,
    private readonly prefix: Uint8Array,
    /** Lowered only by tests, to reach the end of the counter space. */
    private readonly maxCounter = MAX_COUNTER,
  ) {
    this.secret = trafficSecret;
    this.key = boxKeyOf(trafficSecret);
  }

  static clientToServer(trafficSecret: Uint8Array): Direction {
    return new Direction(trafficSecret, V2_PREFIX_CLIENT_MESSAGE);
  }

  static serverToClient(trafficSecret: Uint8Array): Direction {
    return new Direction(trafficSecret, V2_PREFIX_SERVER_MESSAGE);
  }

  get exhausted(): boolean {
    return this.counter > this.maxCounter;
  }

  /** Whether `frames` more frames fit in the counter space. */
  roomFor(frames: number): boolean {
    return this.counter + frames - 1 <= this.maxCounter;
  }

  /** Seal `plaintext` (type · body) as the next frame's box, written at `out[offset]`; the plaintext may already sit at `offset + 16`. */
  sealInto(out: Uint8Array, offset: number, plaintext: Uint8Array, backend: CryptoBackend): void {
    if (this.exhausted) throw new CurvetunError('ECLOSED', 'the message counter is used up; open a new connection');
    shortTermNonce(this.prefix, this.counter++, scratchNonce);
    this.epochFrames++;
    this.epochBytes += plaintext.length;
    backend.secretboxInto(out, offset, plaintext, scratchNonce, this.key);
  }

  /** Seal a whole plaintext into a frame payload (no length header): READY, REJECT and the like. */
  sealPayload(plaintext: Uint8Array, backend: CryptoBackend): Uint8Array {
    const out = new Uint8Array(plaintext.length + 16);
    this.sealInto(out, 0, plaintext, backend);
    return out;
  }

  /** Open the next frame's box: its plaintext, or `null` when it does not authenticate (the counter does not move). */
  open(box: Uint8Array, backend: CryptoBackend, inPlace = false): Uint8Array | null {
    if (this.exhausted) throw new CurvetunError('EPROTO', 'message counter beyond the supported range');
    shortTermNonce(this.prefix, this.counter, scratchNonce);
    const plain = inPlace ? backend.secretboxOpenInPlace(box, scratchNonce, this.key) : backend.secretboxOpen(box, scratchNonce, this.key);
    if (plain !== null) {
      this.counter++;
      this.epochFrames++;
      this.epochBytes += plain.length;
    }
    return plain;
  }

  /**
   * After `open` failed: how many frames `box` skips if it opens under one of the next
   * `DELETION_LOOK_AHEAD` counters of this epoch (frames before it were deleted), else 0. The
   * counter does not move; whatever opened is wiped.
   */
  framesSkippedBy(box: Uint8Array, backend: CryptoBackend): number {
    for (let skipped = 1; skipped <= DELETION_LOOK_AHEAD && this.counter + skipped <= this.maxCounter; skipped++) {
      shortTermNonce(this.prefix, this.counter + skipped, scratchNonce);
      const plain = backend.secretboxOpen(box, scratchNonce, this.key);
      if (plain === null) continue;
      plain.fill(0);
      return skipped;
    }
    return 0;
  }

  /** Move to the next epoch: T' = KDF(T, "ctun2 key update"), and wipe the old secret and key. */
  update(): void {
    const next = nextTrafficSecret(this.secret);
    this.wipe();
    this.secret = next;
    this.key = boxKeyOf(next);
    this.epoch++;
    this.epochFrames = 0;
    this.epochBytes = 0;
    this.epochStarted = Date.now();
  }

  wipe(): void {
    this.secret.fill(0);
    this.key.fill(0);
  }
}
