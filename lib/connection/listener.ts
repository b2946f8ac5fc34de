/**
 * The server end: a TCP listener whose connections run the server half of the handshake, and an
 * accept queue of connections that completed it.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket as TcpSocket } from 'node:net';
import type { CryptoBackend } from '../crypto/backend.js';
import type { CookieKeeper } from '../cookie/types.js';
import { CurvetunError, systemError } from '../errors.js';
import { INSPECT, describe, publicKeyFact } from '../inspect.js';
import type { Verdict } from '../registry/types.js';
import type { Vault } from '../vault/types.js';
import type { Kem } from '../crypto/mlkem.js';
import { BUSY_RETRY_AFTER_MS } from '../limits.js';
import type { Suite } from '../protocol/v2/index.js';
import type { Protocol } from './data-session.js';
import { serverHandshakeAnyVersion } from './server-versions.js';
import { OpenConnections } from './revocation.js';
import type { Recheck } from './revocation.js';
import { ProxyGate } from './proxy-accept.js';
import type { ProxyGateConfig } from './proxy-accept.js';
import { CurvetunSocket } from './socket.js';
import type { SocketLimits } from './socket.js';
import { WaiterQueue } from './waiters.js';
import { trace } from '../trace.js';
import type { WaitOptions } from './waiters.js';

export interface ListenerConfig {
  backend: CryptoBackend;
  kem: Kem;
  vault: Vault;
  cookies: CookieKeeper;
  /** The versions this listener speaks (told apart by the Hello's magic). */
  protocols: readonly Protocol[];
  /** The v2 suites it answers (from `postQuantum`). */
  suites: readonly Suite[];
  /** The largest message a v2 client may send us, announced in READY. */
  maxMessageBytes: number;
  /** May this client key connect from this address, over this version? */
  authorize(remoteAddress: string, clientKey: Uint8Array, protocol: Protocol): Promise<Verdict>;
  /**
   * Is an open connection's key still allowed from its address, over its version (after the
   * registry changed)? Absent: open connections are never re-checked.
   */
  recheck?: Recheck;
  /** Subscribe to registry changes; returns the unsubscribe. Each change re-checks open connections. */
  watchRegistry?(changed: () => void): () => void;
  /** Checked on the raw TCP address before any cryptography; false drops the connection. */
  allowAddress(remoteAddress: string): boolean | Promise<boolean>;
  /** Present: a trusted balancer's PROXY header comes first and names the client (proxy-accept.ts). */
  proxyProtocol?: ProxyGateConfig;
  limits: SocketLimits;
  /** Handshakes in progress at once; excess connections are dropped at once. */
  maxPendingHandshakes: number;
  /** Handshakes in progress at once from one address. */
  maxPendingPerAddress: number;
  /** Connections that completed the handshake and wait for `accept()`; excess ones are closed. */
  backlog: number;
  /** TCP keepalive on every accepted connection (net.createServer's options). */
  keepAlive: { keepAlive: boolean; keepAliveInitialDelay: number };
  /** Called when the listener closes, to release what it started. */
  onClose?: () => Promise<void>;
}

/** What the listener saw, for monitoring: counts only, never keys. */
export interface ListenerStats {
  pendingHandshakes: number;
  accepted: number;
  handshakeFailures: number;
  droppedByAddress: number;
  droppedByLimit: number;
}

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

export interface ListenerEvents {
  /** A connection failed its handshake (bad packet, refused key, timeout…); only that one is closed. */
  handshakeError: [error: CurvetunError, remoteAddress: string];
  /** Every handshake's outcome, completed or failed (after `handshakeError` for a failure). */
  handshake: [report: HandshakeReport];
  /**
   * A connection completed its handshake. Connections go to a waiting `accept()` first, else to
   * the `'connection'` listeners, else into the accept queue.
   */
  connection: [socket: CurvetunSocket];
  /** Listening (emitted once `listen()` has resolved, as `'connect'` is on a client socket). */
  listening: [];
  /** The TCP server failed after it started listening (e.g. `EMFILE` on accept); only when listened to. */
  error: [error: CurvetunError];
  /** The listener closed: `close()` has released everything it started. */
  close: [];
}

function emitListening(listener: Listener): void {
  listener.emit('listening');
}

// Connections queued before anyone listened for 'connection' go to the first such listener.
function onNewListener(this: Listener, event: string | symbol): void {
  if (event === 'connection') queueMicrotask(() => this.handQueuedToListeners());
}

/**
 * A listening curvetun server. Obtain one from `listen()`.
 *
 * @example
 * const listener = await listen(7000, { vault, registry });
 * const socket = await listener.accept();
 * for await (const message of socket) await socket.send(message);
 */
export class Listener extends EventEmitter<ListenerEvents> {
  private readonly ready: CurvetunSocket[] = [];
  private readonly waiters = new WaiterQueue<CurvetunSocket>('accept');
  private readonly pendingByAddress = new Map<string, number>();
  private readonly handshaking = new Set<CurvetunSocket>();
  /** Connections that completed the handshake and are still open (accepted or queued). */
  private readonly established: OpenConnections;
  private closing: Promise<void> | null = null;
  private readonly proxyGate: ProxyGate | null;
  readonly stats: ListenerStats = { pendingHandshakes: 0, accepted: 0, handshakeFailures: 0, droppedByAddress: 0, droppedByLimit: 0 };

  /** @internal Use `listen()`. */
  constructor(private readonly server: Server, private readonly config: ListenerConfig) {
    super();
    this.proxyGate = config.proxyProtocol ? new ProxyGate(config.proxyProtocol) : null;
    server.on('connection', (tcp) => this.onConnection(tcp));
    (this as EventEmitter).on('newListener', onNewListener);
    this.established = new OpenConnections(config.recheck, config.watchRegistry);
  }

  /** @internal */
  static async start(port: number, host: string, config: ListenerConfig): Promise<Listener> {
    const server = createServer({ noDelay: true, ...config.keepAlive });
    const listener = new Listener(server, config);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        // A port in use keeps Node's name (EADDRINUSE); Node's error is the cause either way.
        reject(systemError('EINVAL', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, err)),
      );
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (listener.listenerCount('error') > 0) listener.emit('error', systemError('EIO', `the listener on ${host}:${port} failed: ${err.code ?? err.message}`, err));
    });
    if (trace.enabled) trace('listener: listening on %s:%d', host, listener.address().port);
    setImmediate(emitListening, listener);
    return listener;
  }

  /** Connections that completed the handshake and have not closed yet. */
  get connections(): number {
    return this.established.size;
  }

  /**
   * Check the key of every open connection against the registry again, and close (`EAUTH`, the
   * reason says the registry no longer allows the key from that address) those it refuses now.
   * Runs by itself whenever the registry reloads, unless `closeRevoked: false`. Resolves with how
   * many connections it closed. A registry that cannot answer closes nothing.
   */
  reverify(): Promise<number> {
    return this.established.reverify();
  }

  /** Facts only: the config reaches the vault and cookie keeper, the queues hold live sessions. */
  [INSPECT](): string {
    const bound = this.server.address();
    return describe('Listener', {
      address: bound && typeof bound === 'object' ? `${bound.address}:${bound.port}` : undefined,
      publicKey: publicKeyFact(this.publicKey),
      closing: this.closing !== null,
      pendingHandshakes: this.stats.pendingHandshakes,
      waitingForAccept: this.ready.length,
      accepted: this.stats.accepted,
    });
  }

  /** The server's long-term public key: what clients pass as `serverKey`. */
  get publicKey(): Uint8Array {
    return this.config.vault.publicKey;
  }

  /** The bound address, as `net.Server#address()` gives it. */
  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /**
   * The next connection that completed the handshake. Several callers are served in call order.
   * Rejects `ETIMEDOUT` / `EABORTED` (the listener stays usable) or `ECLOSED` once closed.
   */
  accept(options: WaitOptions = {}): Promise<CurvetunSocket> {
    const next = this.ready.shift();
    if (next) return Promise.resolve(next);
    if (this.closing) return Promise.reject(new CurvetunError('ECLOSED', 'the listener is closed'));
    return this.waiters.wait(options);
  }

  /** Connections accepted so far, as an async iterator (ends when the listener closes). */
  async *[Symbol.asyncIterator](): AsyncIterator<CurvetunSocket> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (this.closing) return;
        throw error;
      }
    }
  }

  /**
   * Stop listening, drop handshakes in progress and connections not yet accepted, and reject
   * waiting `accept()` callers with `ECLOSED`. Accepted sockets stay open: close them yourself.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.established.stop();
      const closed = new CurvetunError('ECLOSED', 'the listener is closed');
      this.waiters.rejectAll(closed);
      this.proxyGate?.closeAll();
      const dropping = [...this.handshaking, ...this.ready.splice(0)].map((s) => s.close());
      // Stop listening now. net.Server's close callback would also wait for accepted sockets,
      // which belong to the application and stay open.
      this.server.close(() => undefined);
      if (trace.enabled) trace('listener: closed');
      await Promise.all(dropping);
      await this.config.onClose?.();
      this.emit('close');
    })();
    return this.closing;
  }

  private onConnection(tcp: TcpSocket): void {
    const address = tcp.remoteAddress;
    if (this.closing || address === undefined) {
      tcp.destroy();
      return;
    }
    if (!this.proxyGate) return this.screen(tcp, address);
    // Behind a balancer: its PROXY header first; then the address it carries is the client's.
    const [remotePort, arrived] = [tcp.remotePort ?? 0, performance.now()];
    this.proxyGate.pass(tcp, address, (client) => (this.closing ? tcp.destroy() : this.screen(tcp, client)), (error) => {
      this.stats.handshakeFailures++;
      this.emit('handshakeError', error, address);
      this.emit('handshake', { remoteAddress: address, remotePort, durationMs: performance.now() - arrived, error, keyRefused: false });
    });
  }

  /** The address checks, then the handshake: `address` is the client's (the TCP peer's, or the one its balancer named). */
  private screen(tcp: TcpSocket, address: string): void {
    // Cheap checks first: no cryptography for an address we would refuse anyway.
    const allowed = this.config.allowAddress(address);
    if (allowed === true) this.admit(tcp, address);
    else if (allowed === false) this.refuseAddress(tcp);
    else {
      // Name patterns need DNS; the socket stays unread (no 'data' listener) meanwhile.
      tcp.on('error', () => undefined);
      allowed.then((ok) => (ok && !this.closing && !tcp.destroyed ? this.admit(tcp, address) : this.refuseAddress(tcp)));
    }
  }

  private refuseAddress(tcp: TcpSocket): void {
    this.stats.droppedByAddress++;
    if (trace.enabled) trace('listener: %s refused: not an allowed address', tcp.remoteAddress);
    tcp.destroy();
  }

  private admit(tcp: TcpSocket, address: string): void {
    const fromAddress = this.pendingByAddress.get(address) ?? 0;
    if (this.handshaking.size >= this.config.maxPendingHandshakes || fromAddress >= this.config.maxPendingPerAddress) {
      this.stats.droppedByLimit++;
      if (trace.enabled) trace('listener: %s dropped: too many handshakes in progress', address);
      tcp.destroy();
      return;
    }
    this.pendingByAddress.set(address, fromAddress + 1);

    const startedAt = performance.now();
    let claimedKey: Uint8Array | undefined;
    let keyRefused = false;
    const authorize = (protocol: Protocol) => async (clientKey: Uint8Array) => {
      claimedKey = clientKey;
      const verdict = await this.config.authorize(address, clientKey, protocol);
      keyRefused = !verdict.allowed;
      return verdict;
    };
    const { backend, kem, vault, cookies, protocols, suites, maxMessageBytes } = this.config;
    const socket: CurvetunSocket = new CurvetunSocket(
      tcp,
      'server',
      (io) =>
        serverHandshakeAnyVersion(io, {
          protocols,
          v1: { backend, vault, cookies, authorize: authorize('v1') },
          v2: {
            backend,
            kem,
            vault,
            cookies,
            suites,
            maxMessageBytes,
            authorize: authorize('v2'),
            hasRoom: () => this.waiters.size > 0 || this.listenerCount('connection') > 0 || this.ready.length < this.config.backlog,
            busyRetryAfterMs: BUSY_RETRY_AFTER_MS,
          },
        }),
      this.config.limits,
      (error) => {
        this.handshaking.delete(socket);
        this.stats.pendingHandshakes = this.handshaking.size;
        const left = (this.pendingByAddress.get(address) ?? 1) - 1;
        if (left > 0) this.pendingByAddress.set(address, left);
        else this.pendingByAddress.delete(address);
        const report: HandshakeReport = {
          remoteAddress: address,
          remotePort: socket.remotePort,
          durationMs: performance.now() - startedAt,
          error,
          ...(claimedKey ? { peerKey: error === null ? socket.peerKey : new Uint8Array(claimedKey) } : {}),
          keyRefused: error !== null && keyRefused,
        };
        if (error === null) {
          this.established.track(socket);
          this.enqueue(socket);
        } else {
          this.stats.handshakeFailures++;
          this.emit('handshakeError', error, address);
        }
        this.emit('handshake', report);
      },
    );
    this.handshaking.add(socket);
    this.stats.pendingHandshakes = this.handshaking.size;
  }

  private enqueue(socket: CurvetunSocket): void {
    this.stats.accepted++;
    if (trace.enabled) trace('listener: %s:%d handshake done, queued for accept', socket.remoteAddress, socket.remotePort);
    if (this.waiters.resolveNext(socket)) return;
    if (this.listenerCount('connection') > 0 && this.ready.length === 0 && !this.closing) {
      this.emit('connection', socket);
      return;
    }
    if (this.closing || this.ready.length >= this.config.backlog) {
      void socket.close();
      return;
    }
    this.ready.push(socket);
    if (this.listenerCount('connection') > 0) queueMicrotask(() => this.handQueuedToListeners());
    // A queued connection that closes before it is accepted leaves the queue.
    socket.once('close', () => {
      const i = this.ready.indexOf(socket);
      if (i >= 0) this.ready.splice(i, 1);
    });
  }

  /** @internal Hand queued connections to the 'connection' listeners, oldest first. */
  handQueuedToListeners(): void {
    while (this.ready.length > 0 && this.listenerCount('connection') > 0 && !this.closing) this.emit('connection', this.ready.shift()!);
  }
}
