/**
 * A channel open from the peer, waiting for the application's answer: `accept()` gives the
 * Channel, `refuse(reason)` sends the reason. Until one of them, the peer waits.
 */
import type { Channel } from './channel.js';
import type { ChannelTarget } from './frames.js';
import type { RefuseReason } from './layout.js';

/** The part of the session a request answers through. */
export interface RequestOwner {
  acceptRequest(request: ChannelRequest): Channel;
  refuseRequest(request: ChannelRequest, reason: RefuseReason): void;
}

export class ChannelRequest {
  /** @internal Made by the session for each OPEN it takes. */
  constructor(
    private readonly owner: RequestOwner,
    /** The channel's id in its session. */
    readonly id: number,
    /** Where the peer asks the channel to lead (canonical host, port). */
    readonly target: ChannelTarget,
    /** @internal The window the peer granted us: our first credit. */
    readonly peerWindow: number,
  ) {}

  /** Open the channel. Throws `ECLOSED` if the peer withdrew or the session ended meanwhile. */
  accept(): Channel {
    return this.owner.acceptRequest(this);
  }

  /** Refuse it, telling the peer why. Does nothing if the open is no longer pending. */
  refuse(reason: RefuseReason): void {
    this.owner.refuseRequest(this, reason);
  }
}
