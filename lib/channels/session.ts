/**
 * A channel session: many channels (Duplex byte streams, each with its own flow control) over one
 * message connection, every message one channel frame (frames.ts). It takes over the connection's
 * receiving and needs nothing else of it (types.ts), so it runs over v1 and v2 sessions alike.
 *
 * Ids: the connection's client numbers its channels 1, 3, 5, …, its server 2, 4, 6, …, so both
 * can open at once without colliding; an id is free again once both CLOSEs have crossed.
 *
 * Limits (per connection): at most `maxChannels` channels in any phase (opening, offered, open,
 * closing), and the windows granted to the peer add up to at most `maxBufferedBytes`, which is
 * what the peer can make us hold. An open beyond either is refused: `EBUSY` locally,
 * too-many-channels to a peer.
 *
 * What a peer's broken frame costs it (PROTOCOL.md, "Channels"): a frame that does not decode, or
 * an OPEN that reuses an id or takes one of our numbering, ends the whole connection (`EPROTO`);
 * a frame that breaks a rule of one channel (data beyond its window or after its EOF, a second
 * answer to its open) resets that channel only; a frame for an id we do not know is dropped.
 */
import { EventEmitter } from 'node:events';
import { CurvetunError } from '../errors.js';
import { INSPECT, describe } from '../inspect.js';
import { trace } from '../trace.js';
import type { WaitOptions } from '../connection/waiters.js';
import { WaiterQueue } from '../connection/waiters.js';
import { Channel } from './channel.js';
import type { ChannelLink } from './channel.js';
import { canonicalTarget, decodeChannelFrame, encodeChannelFrame } from './frames.js';
import type { ChannelFrame, ChannelTarget } from './frames.js';
import { MAX_CHANNEL_ID } from './layout.js';
import type { RefuseReason } from './layout.js';
import { ChannelRefusedError } from './refusal.js';
import { ChannelRequest } from './request.js';
import { checkedLimits } from './limits.js';
import type { ChannelLimits } from './limits.js';
import type { ChannelCarrier, ChannelSessionOptions, ChannelSessionStats, Slot } from './types.js';

export type { ChannelCarrier, ChannelSessionOptions, ChannelSessionStats } from './types.js';

/** One session per connection: a second one would split its messages. */
const carriers = new WeakSet<object>();

/**
 * Channels over a connected socket. The gateway side opens, the agent side accepts; either may do
 * both.
 *
 * @example
 * // One end
 * const session = new ChannelSession(socket);
 * const channel = await session.open({ host: '10.0.0.5', port: 6379 });
 * channel.end('PING\r\n');
 * // The other end
 * const session = new ChannelSession(socket, { acceptIncoming: true });
 * for await (const request of session) request.accept().pipe(someDuplex).pipe(...);
 */
export class ChannelSession extends EventEmitter<{ close: [reason: CurvetunError] }> {
  readonly limits: ChannelLimits;
  readonly stats: ChannelSessionStats = { opened: 0, refusedByPeer: 0, accepted: 0, refused: 0, dropped: 0, reset: 0 };
  private readonly slots = new Map<number, Slot>();
  private readonly acceptIncoming: boolean;
  private readonly firstId: number;
  private nextId: number;
  /** The windows granted for the ids in use. */
  private reservedBytes = 0;
  private readonly requests: ChannelRequest[] = [];
  private readonly waiters = new WaiterQueue<ChannelRequest>('accept');
  private reason: CurvetunError | null = null;
  private readonly link: ChannelLink = {
    send: (frame) => this.carrier.send(frame),
    release: (channel) => this.release(channel.id, channel.window),
  };

  constructor(
    private readonly carrier: ChannelCarrier,
    options: ChannelSessionOptions = {},
  ) {
    super();
    if (carriers.has(carrier)) throw new CurvetunError('EINVAL', 'this connection already has a channel session');
    carriers.add(carrier);
    this.limits = checkedLimits(options);
    this.acceptIncoming = options.acceptIncoming ?? false;
    this.firstId = this.nextId = carrier.role === 'client' ? 1 : 2;
    carrier.on('message', (message) => this.receive(message));
    carrier.on('close', (reason) => this.end(reason));
    if (carrier.closed) this.end(carrier.closeReason ?? new CurvetunError('ECLOSED', 'the connection is closed'));
  }

  /** What util.inspect shows: counts, never the connection's or the channels' bytes. */
  [INSPECT](): string {
    return describe('ChannelSession', { channels: this.slots.size, reserved: this.reservedBytes, closed: this.reason !== null });
  }

  /** Why the session ended (`null` while it runs). */
  get closeReason(): CurvetunError | null {
    return this.reason;
  }

  /** Channel ids in use (every phase), and the bytes of window they were granted. */
  get channelCount(): number {
    return this.slots.size;
  }
  get reserved(): number {
    return this.reservedBytes;
  }

  /**
   * Open a channel to `target`; resolves once the peer accepted it. Rejects `EINVAL` (bad
   * target), `EBUSY` (our limits), a `ChannelRefusedError` (the peer refused: `reason` says why),
   * `ETIMEDOUT` / `EABORTED` (the caller's deadline or signal), or `ECLOSED`.
   */
  open(target: ChannelTarget, options: WaitOptions = {}): Promise<Channel> {
    let canonical: ChannelTarget;
    try {
      canonical = canonicalTarget(target);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.reason) return Promise.reject(this.closedError());
    const full = this.fullBecause();
    if (full) return Promise.reject(new CurvetunError('EBUSY', `cannot open a channel: ${full}`));
    if (options.signal?.aborted) return Promise.reject(new CurvetunError('EABORTED', 'channel open aborted'));
    const id = this.allocateId();
    const window = this.limits.window;
    this.reservedBytes += window;
    return new Promise<Channel>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const giveUp = (error: CurvetunError) => {
        if (this.slots.get(id) !== slot) return;
        this.slots.set(id, { phase: 'abandoned', window });
        settle(error);
      };
      const onAbort = () => giveUp(new CurvetunError('EABORTED', 'channel open aborted'));
      const settle = (outcome: Channel | CurvetunError) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (outcome instanceof Channel) resolve(outcome);
        else reject(outcome);
      };
      const slot: Slot = { phase: 'opening', window, target: canonical, settle };
      this.slots.set(id, slot);
      if (options.timeout !== undefined) {
        timer = setTimeout(() => giveUp(new CurvetunError('ETIMEDOUT', `channel open: no answer within ${options.timeout} ms`)), options.timeout);
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.sendFrame({ type: 'open', channel: id, window, target: canonical });
    });
  }

  /** The next channel open from the peer (call order; `timeout` and `signal` as in `recv`). */
  accept(options: WaitOptions = {}): Promise<ChannelRequest> {
    const queued = this.requests.shift();
    if (queued) return Promise.resolve(queued);
    if (this.reason) return Promise.reject(this.closedError());
    return this.waiters.wait(options);
  }

  /** Channel opens from the peer until the session ends (throws if it failed). */
  async *[Symbol.asyncIterator](): AsyncIterator<ChannelRequest> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (this.reason?.code === 'ECLOSED') return;
        throw error;
      }
    }
  }

  /** Close the connection (and with it every channel). Resolves when it has closed. */
  close(): Promise<void> {
    this.end(new CurvetunError('ECLOSED', 'the channel session was closed locally'));
    return this.carrier.close();
  }

  // ---- requests (ChannelRequest calls these) ------------------------------------------------

  /** @internal */
  acceptRequest(request: ChannelRequest): Channel {
    const slot = this.slots.get(request.id);
    if (this.reason || !slot || !('request' in slot) || slot.request !== request) {
      throw new CurvetunError('ECLOSED', `channel ${request.id}: the open is no longer pending`);
    }
    const channel = new Channel(this.link, request.id, request.target, request.peerWindow, slot.window);
    this.slots.set(request.id, channel);
    this.stats.accepted++;
    this.sendFrame({ type: 'accept', channel: request.id, window: slot.window });
    return channel;
  }

  /** @internal */
  refuseRequest(request: ChannelRequest, reason: RefuseReason): void {
    const slot = this.slots.get(request.id);
    if (this.reason || !slot || !('request' in slot) || slot.request !== request) return;
    this.release(request.id, slot.window);
    this.refuse(request.id, reason);
  }

  // ---- receiving ----------------------------------------------------------------------------

  private receive(message: Uint8Array): void {
    if (this.reason) return;
    let frame: ChannelFrame;
    try {
      frame = decodeChannelFrame(message);
    } catch (error) {
      this.fail((error as Error).message);
      return;
    }
    if (frame.type === 'open') this.peerOpen(frame);
    else this.toSlot(frame);
  }

  private peerOpen(frame: Extract<ChannelFrame, { type: 'open' }>): void {
    const { channel: id } = frame;
    if (this.slots.has(id)) return this.fail(`an open for channel ${id}, which is in use`);
    if (id % 2 === this.firstId % 2) return this.fail(`an open for channel ${id}, an id of our numbering`);
    if (!this.acceptIncoming) return this.refuse(id, 'not-allowed');
    if (this.fullBecause()) return this.refuse(id, 'too-many-channels');
    const window = this.limits.window;
    this.reservedBytes += window;
    const request = new ChannelRequest(this, id, frame.target, frame.window);
    this.slots.set(id, { phase: 'offered', window, request });
    if (!this.waiters.resolveNext(request)) this.requests.push(request);
  }

  /** Every frame but OPEN, to the id it names. */
  private toSlot(frame: Exclude<ChannelFrame, { type: 'open' }>): void {
    const id = frame.channel;
    const slot = this.slots.get(id);
    if (slot === undefined) {
      this.stats.dropped++;
      if (trace.enabled) trace('channels: dropped a %s frame for unknown channel %d', frame.type, id);
      return;
    }
    if (slot instanceof Channel) return this.toChannel(slot, frame);
    if (frame.type === 'close') {
      // The peer gave up on this id: acknowledge (unless we already closed it) and free it.
      if (slot.phase !== 'closing') this.sendFrame({ type: 'close', channel: id, code: 'aborted' });
      this.withdraw(slot, new CurvetunError('ECLOSED', `channel ${id}: the peer closed it before it opened`));
      this.release(id, slot.window);
      return;
    }
    if (slot.phase === 'closing') return; // crossed our CLOSE
    if (slot.phase === 'opening' && frame.type !== 'data' && frame.type !== 'eof' && frame.type !== 'window') {
      this.answered(id, slot, frame);
      return;
    }
    if (slot.phase === 'abandoned' && frame.type === 'refuse') {
      this.release(id, slot.window);
      return;
    }
    if (slot.phase === 'abandoned' && frame.type === 'accept') {
      this.sendFrame({ type: 'close', channel: id, code: 'aborted' });
      this.slots.set(id, { phase: 'closing', window: slot.window });
      return;
    }
    // Data or credit before the open was answered, or from the side that must wait for our answer.
    this.stats.reset++;
    this.withdraw(slot, new CurvetunError('EPROTO', `channel ${id}: the peer sent ${frame.type} before the open was answered`));
    this.sendFrame({ type: 'close', channel: id, code: 'protocol' });
    this.slots.set(id, { phase: 'closing', window: slot.window });
  }

  /** The answer to one of our opens. */
  private answered(id: number, slot: Extract<Slot, { phase: 'opening' }>, frame: Extract<ChannelFrame, { type: 'accept' | 'refuse' }>): void {
    if (frame.type === 'refuse') {
      this.stats.refusedByPeer++;
      this.release(id, slot.window);
      slot.settle(new ChannelRefusedError(frame.reason, slot.target));
      return;
    }
    this.stats.opened++;
    const channel = new Channel(this.link, id, slot.target, frame.window, slot.window);
    this.slots.set(id, channel);
    slot.settle(channel);
  }

  private toChannel(channel: Channel, frame: Exclude<ChannelFrame, { type: 'open' }>): void {
    const broken = channel.peerFrame(frame);
    if (broken !== null) {
      this.stats.reset++;
      channel.reset(broken);
    }
  }

  /** Tell whoever waits on a slot that it will not open. */
  private withdraw(slot: Exclude<Slot, Channel>, error: CurvetunError): void {
    if (slot.phase === 'opening') slot.settle(error);
    else if (slot.phase === 'offered') {
      const queued = this.requests.indexOf(slot.request);
      if (queued >= 0) this.requests.splice(queued, 1);
    }
  }

  // ---- ids, limits, ending ------------------------------------------------------------------

  /** Why one more channel would break a limit, or null. */
  private fullBecause(): string | null {
    if (this.slots.size >= this.limits.maxChannels) return `too many channels (${this.limits.maxChannels} in use)`;
    if (this.reservedBytes + this.limits.window > this.limits.maxBufferedBytes) {
      return `the connection's buffer budget is spent (${this.limits.maxBufferedBytes} bytes of windows granted)`;
    }
    return null;
  }

  /** The next free id of our numbering (wrapping round; at most maxChannels are taken). */
  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id + 2 > MAX_CHANNEL_ID ? this.firstId : id + 2;
      if (!this.slots.has(id)) return id;
    }
  }

  private release(id: number, window: number): void {
    if (this.slots.delete(id)) this.reservedBytes -= window;
  }

  private refuse(id: number, reason: RefuseReason): void {
    this.stats.refused++;
    if (trace.enabled) trace('channels: refused channel %d (%s)', id, reason);
    this.sendFrame({ type: 'refuse', channel: id, reason });
  }

  private sendFrame(frame: ChannelFrame): void {
    this.carrier.send(encodeChannelFrame(frame)).catch(() => undefined);
  }

  /** The peer broke the channel protocol itself: end the session and the connection. */
  private fail(rule: string): void {
    if (trace.enabled) trace('channels: closing the connection: %s', rule);
    this.end(new CurvetunError('EPROTO', `the peer broke the channel protocol: ${rule}`));
    this.carrier.close().catch(() => undefined);
  }

  private end(reason: CurvetunError): void {
    if (this.reason) return;
    this.reason = reason;
    const slots = [...this.slots.values()];
    this.slots.clear();
    this.reservedBytes = 0;
    this.requests.length = 0;
    for (const slot of slots) {
      if (slot instanceof Channel) slot.sessionEnded(reason);
      else this.withdraw(slot, this.closedError());
    }
    this.waiters.rejectAll(this.closedError());
    this.emit('close', reason);
  }

  private closedError(): CurvetunError {
    const r = this.reason!;
    return r.code === 'ECLOSED' ? r : new CurvetunError('ECLOSED', `channel session closed: ${r.message}`, { cause: r });
  }
}
