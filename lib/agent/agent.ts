/**
 * The agent: inside a private network, it keeps one outbound curvetun connection to a gateway
 * and opens the TCP connections the gateway asks for, if its allow-list covers them.
 *
 * Every channel open is checked before any connection attempt (dial-target.ts); a target the
 * list does not cover is refused as not-allowed and never dialled. The connection to the gateway
 * is kept up for ever: after any loss (or a failed attempt) the agent waits an exponential,
 * jittered delay (backoff.ts) and dials again, until `stopAccepting()` or `close()`.
 */
import { EventEmitter } from 'node:events';
import { connect } from '../api.js';
import { ChannelSession, refuseReasonOf } from '../channels/index.js';
import type { ChannelLimits, ChannelRequest } from '../channels/index.js';
import type { ConnectOptions } from '../connection/options.js';
import { CurvetunError } from '../errors.js';
import { INSPECT, describe } from '../inspect.js';
import { fingerprint } from '../keys/fingerprint.js';
import type { LookupFunction } from '../net/dial.js';
import { AddressFilter } from '../net/filter.js';
import { forwardHalfClose } from '../stream/forward.js';
import { backoffDelay, checkedBackoff } from './backoff.js';
import type { Backoff, BackoffOptions } from './backoff.js';
import { dialTarget } from './dial-target.js';
import type { AgentEvents, Carried } from './events.js';

export interface AgentOptions {
  /** Where the gateway listens. */
  gateway: { host: string; port: number };
  /**
   * The targets the gateway may ask for: IP addresses, CIDR networks, DNS names, `.domain`
   * patterns (RFC 6265 domain-match), or `*` for anything. An empty list allows nothing.
   * @example { allow: ['10.1.0.0/16', 'db.internal', '.cache.internal'] }
   */
  allow: readonly string[];
  /** How to connect to the gateway (its key as `serverKey` or a `registry`, `vault`, `crypto`, `timeout`…), as for `connect()`. */
  connect?: ConnectOptions;
  /** Deadline of each connection attempt to a target, name resolution included, ms (default 10 000). */
  dialTimeout?: number;
  /** Reconnection delays (defaults: 500 ms doubling to 30 s, reset after 10 s up). */
  backoff?: BackoffOptions;
  /** Resolves target names (net.connect's signature; default dns.lookup), once per channel. */
  lookup?: LookupFunction;
  /** Limits of the channel session over each connection (`maxChannels`: channels at once). */
  channels?: Partial<ChannelLimits>;
  /** Told about every channel as it starts carrying (a service counts them and drains them). */
  onCarry?: (carried: Carried) => void;
}

export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

/**
 * @example
 * const agent = new Agent({ gateway: { host: 'gw.example.com', port: 7000 }, allow: ['10.0.0.0/8'], connect: { serverKey } });
 * agent.on('channelRefused', (c) => console.log(`refused ${c.target}: ${c.reason}`));
 * agent.start();
 * // … later
 * await agent.close();
 */
export class Agent extends EventEmitter<AgentEvents> {
  private readonly filter: AddressFilter;
  private readonly backoff: Backoff;
  private readonly dialTimeout: number;
  private readonly gatewayLabel: string;
  private session: ChannelSession | null = null;
  private peerKey: Uint8Array | null = null;
  private running: Promise<void> | null = null;
  private accepting = true;
  private readonly stop = new AbortController();

  constructor(private readonly options: AgentOptions) {
    super();
    if (!Array.isArray(options.allow)) throw new CurvetunError('EINVAL', 'allow is a list of patterns (empty allows nothing; ["*"] allows everything)');
    this.filter = AddressFilter.parse(options.allow);
    this.backoff = checkedBackoff(options.backoff);
    this.dialTimeout = options.dialTimeout ?? DEFAULT_DIAL_TIMEOUT_MS;
    if (!Number.isFinite(this.dialTimeout) || this.dialTimeout <= 0) throw new CurvetunError('EINVAL', 'dialTimeout must be a positive number of ms');
    this.gatewayLabel = `${options.gateway.host}:${options.gateway.port}`;
  }

  /** What util.inspect shows: where it dials and whether it is connected, no keys or bytes. */
  [INSPECT](): string {
    return describe('Agent', { gateway: this.gatewayLabel, connected: this.connected, allow: this.options.allow.join(' ') });
  }

  /** Connected to the gateway right now. */
  get connected(): boolean {
    return this.session !== null && this.session.closeReason === null;
  }

  /** The key of the gateway it is connected to now (null while it is not). */
  get gatewayKey(): Uint8Array | null {
    return this.connected ? this.peerKey : null;
  }

  /** Start dialling the gateway (and keep doing so after every loss). Calling it again does nothing. */
  start(): void {
    if (this.running || this.stop.signal.aborted) return;
    this.running = this.run();
  }

  /** Drop the connection now (e.g. its key is no longer trusted); the agent dials again after the usual delay. */
  reconnect(): void {
    void this.session?.close().catch(() => undefined);
  }

  /**
   * Stop taking channels: new opens are refused, the connection is not dialled again once lost;
   * open channels carry on (a drain). `close()` ends them.
   */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Stop: no more reconnections; the connection and its channels are closed. */
  async close(): Promise<void> {
    this.accepting = false;
    this.stop.abort();
    await this.session?.close().catch(() => undefined);
    await this.running;
  }

  private async run(): Promise<void> {
    const { host, port } = this.options.gateway;
    let attempt = 0;
    while (!this.stop.signal.aborted && this.accepting) {
      let reason: CurvetunError;
      let upSince = 0;
      try {
        const socket = await connect(host, port, { ...this.options.connect, signal: this.stop.signal });
        const session = new ChannelSession(socket, { ...this.options.channels, acceptIncoming: true });
        this.session = session;
        this.peerKey = socket.peerKey;
        upSince = Date.now();
        this.emit('connect', { gateway: this.gatewayLabel, key: fingerprint(socket.peerKey) });
        for await (const request of session) void this.serve(request);
        reason = session.closeReason!;
      } catch (error) {
        // A session that failed says why itself (EPROTO…); its iterator only says it closed.
        reason = this.session?.closeReason ?? (error instanceof CurvetunError ? error : new CurvetunError('ECLOSED', 'the gateway connection failed', { cause: error }));
      }
      this.session = null;
      if (this.stop.signal.aborted) return;
      if (!this.accepting) {
        this.emit('disconnect', { gateway: this.gatewayLabel, reason, retryInMs: null, attempt });
        return;
      }
      if (upSince > 0 && Date.now() - upSince >= this.backoff.stableMs) attempt = 0;
      const retryInMs = backoffDelay(attempt, this.backoff);
      this.emit('disconnect', { gateway: this.gatewayLabel, reason, retryInMs, attempt });
      attempt++;
      await sleep(retryInMs, this.stop.signal);
    }
  }

  /** One channel open: check, dial, then accept and join, or refuse with the reason. */
  private async serve(request: ChannelRequest): Promise<void> {
    const { id } = request;
    const target = `${request.target.host}:${request.target.port}`;
    if (!this.accepting) {
      request.refuse('failed');
      this.emit('channelRefused', { id, target, reason: 'failed', detail: 'the agent is stopping' });
      return;
    }
    const startedAt = Date.now();
    let dialled: Awaited<ReturnType<typeof dialTarget>>;
    try {
      dialled = await dialTarget(request.target, this.filter, { timeoutMs: this.dialTimeout, ...(this.options.lookup ? { lookup: this.options.lookup } : {}) });
    } catch (error) {
      const reason = refuseReasonOf(error);
      request.refuse(reason);
      this.emit('channelRefused', { id, target, reason, detail: (error as Error).message });
      return;
    }
    let channel;
    try {
      channel = request.accept();
    } catch (error) {
      // The gateway gave up, or the connection ended, while we dialled.
      dialled.socket.destroy();
      this.emit('channelRefused', { id, target, reason: 'failed', detail: (error as Error).message });
      return;
    }
    const opened = { id, target, address: dialled.address };
    this.emit('channelOpen', opened);
    const forwarding = forwardHalfClose(dialled.socket, channel);
    this.options.onCarry?.({
      done: forwarding.then(() => undefined),
      abort: () => channel.destroy(new CurvetunError('ECLOSED', 'the agent ended the channel')),
    });
    const stats = await forwarding;
    this.emit('channelClose', { ...opened, bytesToTarget: stats.tunnelToTcp, bytesFromTarget: stats.tcpToTunnel, durationMs: Date.now() - startedAt, end: stats.end });
  }
}

/** Wait `ms`, or less if `signal` aborts (then resolve at once). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
