/**
 * What a listener is given (its config, from `listen()`'s options in api.ts) and what it tells
 * (its events and counts): the listener's contract, apart from how it works (listener.ts).
 */
import type { CryptoBackend } from '../crypto/backend.js';
import type { CookieKeeper } from '../cookie/types.js';
import type { CurvetunError } from '../errors.js';
import type { Verdict } from '../registry/types.js';
import type { Vault } from '../vault/types.js';
import type { Kem } from '../crypto/mlkem.js';
import type { Suite } from '../protocol/v2/index.js';
import type { Protocol } from './data-session.js';
import type { HandshakeReport } from './handshake-admission.js';
import type { Recheck } from './revocation.js';
import type { ProxyGateConfig } from './proxy-accept.js';
import type { CurvetunSocket, SocketLimits } from './socket.js';

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
