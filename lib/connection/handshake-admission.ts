/**
 * A listener's handshakes: which connections may start one (the caps in total and per address,
 * checked before any cryptography, so a flood costs us no work), and what each one's end reports
 * (the 'handshake' event: who it was, how long it took, whether the registry refused the key).
 */
import type { CurvetunError } from '../errors.js';
import type { Verdict } from '../registry/types.js';
import type { Protocol } from './data-session.js';
import type { CurvetunSocket } from './socket.js';

/** How one handshake ended, for logs and metrics. Holds a public key at most, never a secret. */
export interface HandshakeReport {
  remoteAddress: string;
  remotePort: number;
  /** From the TCP connection's arrival to the handshake's end, in ms. */
  durationMs: number;
  /** `null` when the handshake completed; otherwise why it failed. */
  error: CurvetunError | null;
  /**
   * The client's long-term key, once its Vouch opened: the key it completed the handshake with, or
   * the key it claimed when refused.
   */
  peerKey?: Uint8Array;
  /** True when the handshake failed because the registry does not allow `peerKey` from this address. */
  keyRefused: boolean;
}

/** The handshakes in progress, counted in total and per address. */
export class PendingHandshakes {
  readonly sockets = new Set<CurvetunSocket>();
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly caps: { maxPendingHandshakes: number; maxPendingPerAddress: number }) {}

  get size(): number {
    return this.sockets.size;
  }

  /** How many addresses have a handshake in progress (an address whose last one ended is forgotten). */
  get addresses(): number {
    return this.byAddress.size;
  }

  /** Whether one more handshake from `address` fits; if so its place is taken (until `end`). */
  reserve(address: string): boolean {
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (this.sockets.size >= this.caps.maxPendingHandshakes || fromAddress >= this.caps.maxPendingPerAddress) return false;
    this.byAddress.set(address, fromAddress + 1);
    return true;
  }

  /** `socket`'s handshake (from `address`, reserved before) ended, however it ended. */
  end(socket: CurvetunSocket, address: string): void {
    this.sockets.delete(socket);
    const left = (this.byAddress.get(address) ?? 1) - 1;
    if (left > 0) this.byAddress.set(address, left);
    else this.byAddress.delete(address);
  }
}

type Authorize = (remoteAddress: string, clientKey: Uint8Array, protocol: Protocol) => Promise<Verdict>;

/** One handshake from `address`: what its report needs to know, learnt on the way. */
export class HandshakeAttempt {
  private readonly startedAt = performance.now();
  private claimedKey: Uint8Array | undefined;
  private keyRefused = false;

  constructor(
    readonly address: string,
    private readonly authorize: Authorize,
  ) {}

  /** The handshake half's authorize for `protocol`, noting the key claimed and the verdict. */
  authorizer(protocol: Protocol): (clientKey: Uint8Array) => Promise<Verdict> {
    return async (clientKey) => {
      this.claimedKey = clientKey;
      const verdict = await this.authorize(this.address, clientKey, protocol);
      this.keyRefused = !verdict.allowed;
      return verdict;
    };
  }

  report(socket: CurvetunSocket, error: CurvetunError | null): HandshakeReport {
    const claimed = this.claimedKey;
    return {
      remoteAddress: this.address,
      remotePort: socket.remotePort,
      durationMs: performance.now() - this.startedAt,
      error,
      // A completed handshake's key is the one its Vouch claimed and the registry allowed.
      ...(claimed ? { peerKey: new Uint8Array(claimed) } : {}),
      // Only a refused verdict sets it, and a refusal always fails the handshake.
      keyRefused: this.keyRefused,
    };
  }
}
