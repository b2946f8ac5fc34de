/**
 * Receiving one fragmented v2 message (FRAGMENT_FIRST, then FRAGMENT_MORE until `total` bytes
 * arrived). The parts are kept as they came (views of their own frames) and joined once complete,
 * so what a peer makes us hold is what it actually sent, never more than our `maxMessageBytes`:
 * a peer that announces 16 MiB and sends one byte costs one byte, not a 16 MiB buffer.
 */
import { CurvetunError } from '../errors.js';

export class Reassembly {
  private parts: Uint8Array[] = [];
  private received = 0;

  /** Check a FRAGMENT_FIRST against our limit: `ETOOBIG` before any of its bytes is kept. */
  constructor(
    readonly total: number,
    ourMaxMessageBytes: number,
  ) {
    if (total > ourMaxMessageBytes) {
      throw new CurvetunError('ETOOBIG', `the peer announced a ${total}-byte message; we accept at most ${ourMaxMessageBytes} bytes`);
    }
  }

  /** Bytes held so far. */
  get heldBytes(): number {
    return this.received;
  }

  /** Add a part; the whole message once `total` bytes arrived, else `null`. `EPROTO` for a part that overruns `total`. */
  add(part: Uint8Array): Uint8Array | null {
    if (this.received + part.length > this.total) {
      throw new CurvetunError('EPROTO', `a fragment overruns its message: ${this.received + part.length} of ${this.total} bytes`);
    }
    this.parts.push(part);
    this.received += part.length;
    if (this.received < this.total) return null;
    const whole = new Uint8Array(this.total);
    let offset = 0;
    for (const p of this.parts) {
      whole.set(p, offset);
      offset += p.length;
    }
    this.parts = [];
    return whole;
  }
}
