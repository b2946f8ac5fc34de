/**
 * Options of the public `listen()` and `connect()` calls. Every field is optional: what is left
 * out comes from the default home (see `lib/home.ts`).
 */
import type { LookupFunction } from 'node:net';
import type { CryptoBackend } from '../crypto/backend.js';
import type { CookieKeeper } from '../cookie/types.js';
import type { Registry } from '../registry/types.js';
import type { Vault } from '../vault/types.js';
import type { Protocol } from './data-session.js';
import type { KeepAlive } from './net-compat.js';

export type { KeepAlive, Protocol };

/** A crypto backend, or the name of one: 'auto' (default), 'tweetnacl', 'node', 'sodium'. */
export type CryptoChoice = CryptoBackend | 'auto' | 'tweetnacl' | 'node' | 'sodium';

export interface CommonOptions {
  /** Holds our long-term key. Default: the runtime's `WorkerVault`, key in `$CURVETUN_HOME` (~/.curvetun). */
  vault?: Vault;
  /** The known_hosts registry. Default: the runtime's, file `$CURVETUN_HOME/known_hosts`. */
  registry?: Registry;
  /**
   * Address patterns (IP, CIDR, DNS name, `.domain` pattern, `*`) this end may talk to. A server
   * drops other peers before any cryptography; a client refuses to connect elsewhere.
   * @example { allowedAddresses: ['127.0.0.0/8', '::1'] }
   */
  allowedAddresses?: string[];
  /** Handshake deadline in ms. Default 10 000. */
  handshakeTimeout?: number;
  /** Bytes of unconsumed received messages before TCP reading pauses. Default 1 MiB. */
  highWaterMark?: number;
  /** Which crypto implementation to use. Default 'auto' (or `$CURVETUN_CRYPTO`). */
  crypto?: CryptoChoice;
  /**
   * TCP keepalive, so a peer that vanished (machine off, cable out) is noticed: after
   * `initialDelay` ms without traffic the OS sends probes, and a connection nobody answers closes.
   * Default on, first probe after 60 000 ms idle; `false` turns it off. Also per socket:
   * `socket.setKeepAlive()`.
   * @example { keepAlive: { initialDelay: 30_000 } }
   */
  keepAlive?: KeepAlive;
  /**
   * Close a connection with `ETIMEDOUT` when nothing arrives from the peer for this many ms
   * (v1 and v2). Default: never. In v2 the socket pings a quiet peer first (`pingInterval`), so a
   * live peer always answers in time; v1 has no ping, so a quiet v1 peer is closed too.
   * @example { idleTimeout: 60_000 }
   */
  idleTimeout?: number;
  /**
   * v2: send a PING when nothing has arrived from the peer for this many ms (0 = never). Default:
   * half of `idleTimeout` when that is set, else never. Ignored for v1 connections.
   */
  pingInterval?: number;
  /**
   * v2: update the sending key after this many frames, plaintext bytes or ms in one epoch,
   * whichever comes first; the time also on a quiet connection (a KEY_UPDATE alone). Defaults
   * (and maxima): 2^20 frames, 2^30 bytes, 120 000 ms.
   * @example { rekeyAfter: { messages: 100_000 } }
   */
  rekeyAfter?: { messages?: number; bytes?: number; ms?: number };
}

/**
 * @example
 * const listener = await listen(7000, { host: '127.0.0.1', registry });
 */
export interface ListenOptions extends CommonOptions {
  /** Interface to bind. Default '127.0.0.1': listening beyond this machine is a choice you make. */
  host?: string;
  /** The cookie keeper. Default: a cookie keeper worker started for (and stopped with) this listener. */
  cookies?: CookieKeeper;
  /**
   * Accept every client key that completes the handshake, without asking the registry. The
   * connection is still encrypted and `socket.peerKey` still tells you who it is.
   */
  acceptAnyClient?: boolean;
  /**
   * When the registry reloads (its file changed, or lines were removed), close the open
   * connections whose key it no longer allows from their address, with `EAUTH` and a reason that
   * says so. Default true; false leaves open connections alone (new handshakes still obey the
   * registry). `listener.reverify()` runs the same check on demand.
   */
  closeRevoked?: boolean;
  /** Handshakes in progress at once; more are dropped at once. Default 1 024. */
  maxPendingHandshakes?: number;
  /** Handshakes in progress at once from one address. Default 64. */
  maxPendingPerAddress?: number;
  /** Handshaken connections waiting for `accept()`; more are closed (v2: refused with REJECT busy). Default 511. */
  backlog?: number;
  /**
   * The protocol versions accepted on this port, told apart by the Hello's magic. Default
   * `['v1', 'v2']`. v1 clients are accepted only when their key's registry line carries the `@v1`
   * marker (or with `acceptAnyClient`).
   * @example { protocols: ['v2'] }
   */
  protocols?: Protocol[];
  /**
   * v2's hybrid key exchange (X25519 + ML-KEM-768): `true` (default) answers hybrid and classical
   * v2 Hellos, `'require'` refuses classical ones, `false` refuses hybrid ones.
   */
  postQuantum?: boolean | 'require';
  /** v2: the largest message a client may send us, announced in READY. Default 16 MiB, at most 2^30. */
  maxMessageBytes?: number;
  /**
   * Behind a TCP balancer that speaks the PROXY protocol (HAProxy `send-proxy` / `send-proxy-v2`,
   * cloud load balancers): every connection must come from one of the `trusted` addresses or
   * networks and start with a PROXY header (v1 or v2); the client address it carries is then what
   * `allowedAddresses`, the registry, `socket.remoteAddress` and the handshake reports see. A
   * connection from elsewhere, or without a valid header within `handshakeTimeout`, is closed
   * before any cryptography. Default: off (the TCP peer is the client).
   * @example { proxyProtocol: { trusted: ['10.0.0.0/8', '192.0.2.7'] } }
   */
  proxyProtocol?: ProxyProtocolOptions;
}

export interface ProxyProtocolOptions {
  /** The balancers' IP addresses and CIDR networks (no names, no `*`). */
  trusted: string[];
}

/**
 * @example
 * const socket = await connect('127.0.0.1', 7000, { serverKey: 'base64…', timeout: 5000 });
 */
export interface ConnectOptions extends CommonOptions {
  /** The server's public key (32 bytes, or its base64 text). Default: looked up in the registry by host. */
  serverKey?: Uint8Array | string;
  /** Whole deadline for TCP connect + handshake, in ms. Default: `handshakeTimeout`. */
  timeout?: number;
  /** Aborts the connect with `EABORTED`. */
  signal?: AbortSignal;
  /**
   * The protocol version to speak. Default: the host's registry line, looked up with the addresses
   * dialled (`@v1` marker → 'v1'), else 'v2'. There is never an automatic fallback: a v2 handshake the server does not complete is an
   * error (`EHANDSHAKE`), not a reason to try v1.
   */
  protocol?: Protocol;
  /** v2: mix ML-KEM-768 into the key exchange (default true). `false` makes a classical v2 Hello. */
  postQuantum?: boolean;
  /** v2: the largest message the server may send us, announced in the Initiate. Default 16 MiB, at most 2^30. */
  maxMessageBytes?: number;
  /**
   * Resolves `host`, with `net.connect`'s signature and meaning (default `dns.lookup`). It is
   * called once per connect, with `{ all: true }`: the addresses it gives are the ones checked
   * against `allowedAddresses` and the only ones dialled, in its order (the next one when a TCP
   * connection attempt fails). Not called when `host` is an IP address.
   * @example { lookup: (host, options, callback) => dns.lookup(host, { ...options, family: 4 }, callback) }
   */
  lookup?: LookupFunction;
}
