/**
 * The client end: open TCP, run the client half of the handshake, hand back a connected socket.
 */
import { connect as tcpConnect } from 'node:net';
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
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
  serverKey: Uint8Array;
  /** The version to speak (never changed on failure: no fallback). */
  protocol: Protocol;
  /** v2: the suite of the Hello (2 hybrid, 1 classical). */
  suite: Suite;
  /** v2: the largest message we accept, announced in the Initiate. */
  maxMessageBytes: number;
  limits: SocketLimits;
  /** Whole deadline for TCP connect + handshake, in ms. */
  timeout: number;
  signal?: AbortSignal;
}

export async function openClientSocket(host: string, port: number, config: ConnectConfig): Promise<CurvetunSocket> {
  const { signal, timeout } = config;
  if (signal?.aborted) throw new CurvetunError('EABORTED', 'connect aborted');

  const tcp = tcpConnect({ host, port, noDelay: true });
  let socket: CurvetunSocket | undefined;
  const onAbort = () => fail(new CurvetunError('EABORTED', 'connect aborted'));
  const timer = setTimeout(() => fail(new CurvetunError('ETIMEDOUT', `no connection to ${host}:${port} within ${timeout} ms`)), timeout);
  signal?.addEventListener('abort', onAbort, { once: true });
  let rejectEarly: ((e: CurvetunError) => void) | undefined;
  function fail(error: CurvetunError) {
    if (socket) socket.abort(error);
    else {
      tcp.destroy();
      rejectEarly?.(error);
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      rejectEarly = reject;
      tcp.once('connect', () => resolve());
      tcp.once('error', (err: NodeJS.ErrnoException) =>
        reject(new CurvetunError('ECLOSED', `cannot connect to ${host}:${port}: ${err.code ?? 'socket error'}`)),
      );
    });
    rejectEarly = undefined;
    tcp.removeAllListeners('error');
    const { backend, kem, vault, serverKey, protocol, suite, maxMessageBytes } = config;
    return await new Promise<CurvetunSocket>((resolve, reject) => {
      socket = new CurvetunSocket(
        tcp,
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
    tcp.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
