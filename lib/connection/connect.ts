/**
 * The client end: resolve the host once, check and dial exactly those addresses, run the client
 * half of the handshake, hand back a connected socket.
 */
import type { Socket as TcpSocket } from 'node:net';
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError, abortedError, systemError } from '../errors.js';
import { dialInOrder, resolveAllowed } from '../net/dial.js';
import type { Dialling, LookupFunction } from '../net/dial.js';
import type { AddressFilter } from '../net/filter.js';
import { KEY_BYTES } from '../protocol/index.js';
import type { Vault } from '../vault/types.js';
import type { Kem } from '../crypto/mlkem.js';
import type { Suite } from '../protocol/v2/index.js';
import type { Protocol } from './data-session.js';
import { clientHandshake } from './handshake.js';
import { clientHandshakeV2 } from './handshake-v2-client.js';
import { CurvetunSocket } from './socket.js';
import type { SocketLimits } from './socket.js';

export interface ConnectConfig {
  backend: CryptoBackend;
  kem: Kem;
  vault: Vault;
  /** The server's key as passed; without it the registry line's key (`registryLine`). */
  serverKey?: Uint8Array;
  /**
   * The registry's line for the host, asked with the addresses it resolved to, so the key (and
   * the `@v1` marker) belong to the addresses actually dialled. Given when the registry is to be
   * consulted: for the key when none is passed, for the version when none is asked for.
   */
  registryLine?: (addresses: readonly string[]) => Promise<{ key: Uint8Array; v1?: boolean } | undefined>;
  /** The version to speak (never changed on failure: no fallback); default the line's, else v2. */
  protocol?: Protocol;
  /** v2: the suite of the Hello (2 hybrid, 1 classical). */
  suite: Suite;
  /** v2: the largest message we accept, announced in the Initiate. */
  maxMessageBytes: number;
  /** Checked against the resolved addresses before any connection attempt. */
  filter: AddressFilter | null;
  /** Resolves the host (net.connect's `lookup`); called at most once per connect. */
  lookup?: LookupFunction;
  limits: SocketLimits;
  /** Whole deadline for name resolution + TCP connect + handshake, in ms. */
  timeout: number;
  signal?: AbortSignal;
}

export async function openClientSocket(host: string, port: number, config: ConnectConfig): Promise<CurvetunSocket> {
  const { signal, timeout } = config;
  if (signal?.aborted) throw abortedError('connect', signal);

  let socket: CurvetunSocket | undefined;
  let dialling: Dialling | undefined;
  let rejectEarly!: (e: CurvetunError) => void;
  // Settles only by failing: every step before the handshake races it.
  const failedEarly = new Promise<never>((_, reject) => (rejectEarly = reject));
  failedEarly.catch(() => undefined);
  const fail = (error: CurvetunError) => {
    if (socket) socket.abort(error);
    else {
      dialling?.cancel(error);
      rejectEarly(error);
    }
  };
  const onAbort = () => fail(abortedError('connect', signal!));
  const timer = setTimeout(() => fail(new CurvetunError('ETIMEDOUT', `no connection to ${host}:${port} within ${timeout} ms`)), timeout);
  signal?.addEventListener('abort', onAbort, { once: true });

  let tcp: TcpSocket | undefined;
  try {
    const targets = await Promise.race([resolveAllowed(host, config.filter, config.lookup), failedEarly]);
    const line = config.registryLine ? await Promise.race([config.registryLine(targets.map((t) => t.address)), failedEarly]) : undefined;
    const serverKey = config.serverKey ?? line?.key;
    if (!serverKey || serverKey.length !== KEY_BYTES) {
      throw new CurvetunError('EKEY', `no server key for ${host}: pass serverKey or add the host to the registry`);
    }
    const protocol = config.protocol ?? (line?.v1 ? 'v1' : 'v2');
    dialling = dialInOrder(targets, port, { noDelay: true });
    tcp = await Promise.race([
      dialling.socket.catch((err: NodeJS.ErrnoException) => {
        // Refused keeps Node's name (ECONNREFUSED); Node's error is the cause either way.
        throw err instanceof CurvetunError ? err : systemError('ECLOSED', `cannot connect to ${host}:${port}: ${err.code ?? 'socket error'}`, err);
      }),
      failedEarly,
    ]);
    const { backend, kem, vault, suite, maxMessageBytes } = config;
    const connected = tcp;
    return await new Promise<CurvetunSocket>((resolve, reject) => {
      socket = new CurvetunSocket(
        connected,
        'client',
        protocol === 'v2'
          ? (io) => clientHandshakeV2(io, { backend, kem, vault, serverKey, suite, maxMessageBytes })
          : (io) => clientHandshake(io, { backend, vault, serverKey }),
        {
          ...config.limits,
          // The handshake gets what is left of the whole deadline.
          handshakeTimeout: Math.max(1, Math.min(config.limits.handshakeTimeout, timeout)),
        },
        (error) => (error ? reject(error) : resolve(socket!)),
        protocol,
      );
    });
  } catch (error) {
    tcp?.destroy();
    dialling?.cancel(error as Error);
    // A connection that came up just as we gave up is closed too.
    dialling?.socket.then((late) => late.destroy(), () => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
