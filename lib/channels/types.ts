/** The shapes a channel session is made of and reports (session.ts uses them). */
import type { CurvetunError } from '../errors.js';
import type { Channel } from './channel.js';
import type { ChannelTarget } from './frames.js';
import type { ChannelLimits } from './limits.js';
import type { ChannelRequest } from './request.js';

/** What a session needs from the connection under it (a CurvetunSocket has all of it). */
export interface ChannelCarrier {
  readonly role: 'client' | 'server';
  readonly closed: boolean;
  readonly closeReason: CurvetunError | null;
  send(message: Uint8Array): Promise<void>;
  close(): Promise<void>;
  on(event: 'message', listener: (message: Uint8Array) => void): unknown;
  on(event: 'close', listener: (reason: CurvetunError) => void): unknown;
}

export interface ChannelSessionOptions extends Partial<ChannelLimits> {
  /**
   * Take channel opens from the peer (through `accept()` or `for await`); without it every open
   * the peer sends is refused as not-allowed.
   */
  acceptIncoming?: boolean;
}

export interface ChannelSessionStats {
  /** Channels we opened that the peer accepted, and opens it refused. */
  opened: number;
  refusedByPeer: number;
  /** Opens from the peer we accepted, and ones we refused (by the application or the limits). */
  accepted: number;
  refused: number;
  /** Frames for ids we did not know, dropped; channels reset for a broken rule. */
  dropped: number;
  reset: number;
}

/** A channel id between OPEN and its answer, or on its way out without a Channel object. */
export type Slot =
  | { phase: 'opening'; window: number; target: ChannelTarget; settle: (outcome: Channel | CurvetunError) => void }
  | { phase: 'abandoned'; window: number }
  | { phase: 'offered'; window: number; request: ChannelRequest }
  | { phase: 'closing'; window: number }
  | Channel;
