/**
 * The server end: a TCP listener whose connections run the server half of the handshake, and an
 * accept queue of connections that completed it. What it is given and tells is in
 * listener-types.ts, the caps and reports of handshakes in progress in handshake-admission.ts,
 * the re-check of open connections after a registry change in revocation.ts.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket as TcpSocket } from 'node:net';
import { CurvetunError, systemError } from '../errors.js';
import { INSPECT, describe, publicKeyFact } from '../inspect.js';
import { BUSY_RETRY_AFTER_MS } from '../limits.js';
import { HandshakeAttempt, PendingHandshakes } from './handshake-admission.js';
import type { ListenerConfig, ListenerEvents, ListenerStats } from './listener-types.js';
import { serverHandshakeAnyVersion } from './server-versions.js';
import { OpenConnections } from './revocation.js';
import { ProxyGate } from './proxy-accept.js';
import { CurvetunSocket } from './socket.js';
import { WaiterQueue } from './waiters.js';
import { trace } from '../trace.js';
import type { WaitOptions } from './waiters.js';

export type { HandshakeReport } from './handshake-admission.js';
export type { ListenerConfig, ListenerEvents, ListenerStats } from './listener-types.js';

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
  private readonly handshaking: PendingHandshakes;
  /** Connections that completed the handshake and are still open (accepted or queued). */
  private readonly established: OpenConnections;
  private closing: Promise<void> | null = null;
  private readonly proxyGate: ProxyGate | null;
  readonly stats: ListenerStats = { pendingHandshakes: 0, accepted: 0, handshakeFailures: 0, droppedByAddress: 0, droppedByLimit: 0 };

  /** @internal Use `listen()`. */
  constructor(private readonly server: Server, private readonly config: ListenerConfig) {
    super();
    this.handshaking = new PendingHandshakes(config);
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
      const dropping = [...this.handshaking.sockets, ...this.ready.splice(0)].map((s) => s.close());
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
    if (!this.handshaking.reserve(address)) {
      this.stats.droppedByLimit++;
      if (trace.enabled) trace('listener: %s dropped: too many handshakes in progress', address);
      tcp.destroy();
      return;
    }
    const attempt = new HandshakeAttempt(address, this.config.authorize);
    const { backend, kem, vault, cookies, protocols, suites, maxMessageBytes } = this.config;
    const socket: CurvetunSocket = new CurvetunSocket(
      tcp,
      'server',
      (io) =>
        serverHandshakeAnyVersion(io, {
          protocols,
          v1: { backend, vault, cookies, authorize: attempt.authorizer('v1') },
          v2: { backend, kem, vault, cookies, suites, maxMessageBytes, authorize: attempt.authorizer('v2'), hasRoom: () => this.hasRoom(), busyRetryAfterMs: BUSY_RETRY_AFTER_MS },
        }),
      this.config.limits,
      (error) => this.reportHandshake(socket, attempt, error),
    );
    this.handshaking.sockets.add(socket);
    this.stats.pendingHandshakes = this.handshaking.size;
  }

  /** Room for one more connection: someone waits in accept(), listens for 'connection', or the backlog has a place. */
  private hasRoom(): boolean {
    return this.waiters.size > 0 || this.listenerCount('connection') > 0 || this.ready.length < this.config.backlog;
  }

  private reportHandshake(socket: CurvetunSocket, attempt: HandshakeAttempt, error: CurvetunError | null): void {
    this.handshaking.end(socket, attempt.address);
    this.stats.pendingHandshakes = this.handshaking.size;
    const report = attempt.report(socket, error);
    if (error === null) {
      this.established.track(socket);
      this.enqueue(socket);
    } else {
      this.stats.handshakeFailures++;
      this.emit('handshakeError', error, attempt.address);
    }
    this.emit('handshake', report);
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
