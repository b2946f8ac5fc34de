/**
 * The part of a curvetun socket that a `node:net` user expects to find: addresses, byte counts,
 * the TCP options (Nagle, keepalive), an idle notification, `destroy`, `ref`/`unref` and the
 * `'connect'` event. Everything here is about the TCP connection underneath; the messages, the
 * handshake and the lifecycle's effects are CurvetunSocket's (socket.ts).
 *
 * Byte counts come in two kinds: `bytesRead`/`bytesWritten` count application bytes (what
 * `recv` delivered and `send` took), `wireBytesRead`/`wireBytesWritten` what TCP carried
 * (handshake, framing, counters, authenticators and control frames included).
 */
import type { AddressInfo, Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import { ConnectionLifecycle, reasonError } from './lifecycle.js';
import { hearTcpIdle, peerOf } from './tcp-hooks.js';

/** TCP keepalive: on (with `initialDelay` ms of idleness before the first probe) or off. */
export type KeepAlive = boolean | { initialDelay?: number };

/** What the connection starts with when `keepAlive` is not given: on, first probe after 60 s idle. */
export const DEFAULT_KEEPALIVE_INITIAL_DELAY_MS = 60_000;

/** `keepAlive` as net.connect / net.createServer take it; throws EINVAL for anything else. */
export function keepAliveOptions(value: KeepAlive | undefined): { keepAlive: boolean; keepAliveInitialDelay: number } {
  if (value === undefined || value === true) return { keepAlive: true, keepAliveInitialDelay: DEFAULT_KEEPALIVE_INITIAL_DELAY_MS };
  if (value === false) return { keepAlive: false, keepAliveInitialDelay: 0 };
  const delay = typeof value === 'object' && value !== null ? (value.initialDelay ?? DEFAULT_KEEPALIVE_INITIAL_DELAY_MS) : NaN;
  if (!Number.isFinite(delay) || delay < 0) throw new CurvetunError('EINVAL', 'keepAlive must be true, false or { initialDelay: ms ≥ 0 }');
  return { keepAlive: true, keepAliveInitialDelay: delay };
}

function emitConnect(socket: NetCompatSocket): void {
  if (socket.state === 'connected') socket.emit('connect');
}

export abstract class NetCompatSocket extends ConnectionLifecycle {
  /** Application bytes of the messages received (opened and delivered) so far. */
  protected messageBytesRead = 0;
  /** Application bytes of the messages `send()` took so far. */
  protected messageBytesWritten = 0;
  /** Set by `destroy()`: close without flushing or FIN. */
  protected destroying = false;
  /** When the handshake completed (performance.now()), for close reasons. */
  protected connectedAt = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(protected readonly tcp: TcpSocket) {
    super();
    // The client a trusted balancer named in a PROXY header, else the TCP peer.
    ({ address: this.remoteAddress, port: this.remotePort } = peerOf(tcp));
  }

  /** Application bytes received: the sum of the lengths of the messages delivered so far. */
  get bytesRead(): number {
    return this.messageBytesRead;
  }

  /** Application bytes sent: the sum of the lengths of the messages `send()` took so far. */
  get bytesWritten(): number {
    return this.messageBytesWritten;
  }

  /** Bytes TCP received on this connection: handshake, framing and encryption overhead included. */
  get wireBytesRead(): number {
    return this.tcp.bytesRead;
  }

  /** Bytes handed to TCP on this connection (Node's `bytesWritten`): overhead included. */
  get wireBytesWritten(): number {
    return this.tcp.bytesWritten;
  }

  /** The local end, as `net.Socket#address()` gives it (`{}` once TCP has closed). */
  address(): AddressInfo | Record<string, never> {
    return this.tcp.address() as AddressInfo | Record<string, never>;
  }

  /** The local IP address (undefined once TCP has closed, as in node:net). */
  get localAddress(): string | undefined {
    return this.tcp.localAddress;
  }

  /** The local port (undefined once TCP has closed, as in node:net). */
  get localPort(): number | undefined {
    return this.tcp.localPort;
  }

  /** `'IPv4'` or `'IPv6'`. */
  get remoteFamily(): string | undefined {
    return this.tcp.remoteFamily;
  }

  /**
   * Nagle's algorithm off (`true`, the default from the start: each send leaves at once) or on
   * (`false`: small frames may wait to be merged).
   */
  setNoDelay(noDelay = true): this {
    this.tcp.setNoDelay(noDelay);
    return this;
  }

  /**
   * TCP keepalive: probes after `initialDelay` ms without traffic, so a peer that vanished is
   * noticed (the connection then closes with `ECONNRESET`/`ETIMEDOUT` as its cause). On by
   * default (option `keepAlive`); probe interval and count are the OS's.
   */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.tcp.setKeepAlive(enable, initialDelay);
    return this;
  }

  /**
   * Emit `'timeout'` after `ms` without any traffic on the TCP connection (either way; v2 control
   * frames count), and again after each further idle `ms`; 0 turns it off. A notification only,
   * as in node:net: the socket stays open and usable; call `close()` or `destroy()` to end it.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) throw new CurvetunError('EINVAL', 'setTimeout needs a number of ms ≥ 0');
    if (ms > 0) hearTcpIdle(this.tcp, this);
    this.tcp.setTimeout(ms);
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }

  /**
   * Close at once, without flushing what is queued (sends in flight reject). The close reason is
   * `error` when given (a CurvetunError as it is, anything else as the `cause` of an `EABORTED`),
   * else `ECLOSED` "the socket was destroyed locally".
   */
  destroy(error?: unknown): this {
    if (this.closed) return this;
    const reason =
      error === undefined
        ? reasonError('ECLOSED', 'the socket was destroyed locally')
        : error instanceof CurvetunError
          ? error
          : new CurvetunError('EABORTED', `the socket was destroyed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    this.destroying = true;
    this.dispatch('FAIL', reason);
    return this;
  }

  /** Let the process exit while this connection is open (node:net's `unref`). */
  unref(): this {
    this.tcp.unref();
    return this;
  }

  /** Keep the process alive while this connection is open again (the default). */
  ref(): this {
    this.tcp.ref();
    return this;
  }

  /** @internal TCP was idle for the `setTimeout` period (tcp-hooks.ts). */
  tcpIdle(): void {
    if (!this.closed) this.emit('timeout');
  }

  /**
   * The handshake completed. A client's `'connect'` follows once the caller of `connect()` has
   * its socket (a later turn of the event loop), so `(await connect(…)).on('connect', …)` hears it.
   */
  protected handshakeCompleted(role: 'client' | 'server'): void {
    this.connectedAt = performance.now();
    if (role === 'client') setImmediate(emitConnect, this);
  }
}
