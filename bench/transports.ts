/**
 * The transports under one small interface, so every benchmark scenario is written once: raw TCP
 * (node:net), TLS 1.3 (node:tls), @hyperswarm/secret-stream (Noise XX + libsodium secretstream,
 * over a plain TCP socket, each write one message) and curvetun (one per crypto backend).
 *
 * A "message" on net/tls is a fixed-size write on a byte stream; on secret-stream and curvetun it
 * is a real message.
 */
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import SecretStream from '@hyperswarm/secret-stream';
import { WorkerVault, connect, listen } from '../lib/index.js';
import type { CurvetunSocket, Listener } from '../lib/index.js';
import { makeCertificate } from './certificate.js';

/** `curvetun` is protocol v1 (the figures of earlier runs); `curvetun-v2` hybrid, `curvetun-v2c` classical v2. */
export type TransportName = 'net' | 'tls' | 'secret-stream' | 'curvetun' | 'curvetun-v2' | 'curvetun-v2c';

/** Whether a transport is one of curvetun's, and the connect options it stands for. */
export function curvetunVersion(transport: TransportName): { protocol: 'v1' | 'v2'; postQuantum: boolean } | null {
  if (transport === 'curvetun') return { protocol: 'v1', postQuantum: false };
  if (transport === 'curvetun-v2') return { protocol: 'v2', postQuantum: true };
  if (transport === 'curvetun-v2c') return { protocol: 'v2', postQuantum: false };
  return null;
}
export type Backend = 'tweetnacl' | 'node' | 'sodium';

/** A connected client: send bytes, wait for `n` bytes back, close. */
export interface ClientConn {
  /** Resolves when the data may be sent again (backpressure respected). */
  send(data: Uint8Array): Promise<void> | void;
  /** True when send's promise settles once written (curvetun); false when it means "wait for drain" (net, tls). */
  readonly pipelined: boolean;
  /** Resolves once `bytes` more bytes have arrived. */
  receive(bytes: number): Promise<void>;
  close(): void;
}

export interface ServerSide {
  port: number;
  key: string;
  /** Received payload bytes and messages since the last reset, and the time span they arrived in. */
  counters: { bytes: number; messages: number; first: number; last: number };
  connections: number;
  close(): Promise<void>;
}

function now(): number {
  return performance.now();
}

function count(counters: ServerSide['counters'], bytes: number, messages: number): void {
  const t = now();
  if (counters.bytes === 0) counters.first = t;
  counters.bytes += bytes;
  counters.messages += messages;
  counters.last = t;
}

/** A server that counts what it receives and, while `echo.on`, sends it straight back. */
export async function startServer(transport: TransportName, backend: Backend, echo: { on: boolean }, home: string): Promise<ServerSide> {
  const counters = { bytes: 0, messages: 0, first: 0, last: 0 };
  const side = { port: 0, key: '', counters, connections: 0 } as ServerSide;
  if (curvetunVersion(transport)) {
    const vault = await WorkerVault.open({ secretKeyFile: join(home, 'server-key'), create: true, crypto: backend });
    const listener: Listener = await listen(0, {
      vault,
      acceptAnyClient: true,
      crypto: backend,
      maxPendingHandshakes: 100_000,
      maxPendingPerAddress: 100_000,
      backlog: 100_000,
    });
    void (async () => {
      for await (const socket of listener) {
        side.connections++;
        socket.on('close', () => side.connections--);
        socket.on('message', (m) => {
          count(counters, m.length, 1);
          if (echo.on) void socket.send(m).catch(() => undefined);
        });
      }
    })();
    side.port = listener.address().port;
    side.key = Buffer.from(listener.publicKey).toString('base64');
    side.close = async () => {
      await listener.close();
      await vault.close();
    };
    return side;
  }
  // secret-stream: one static key pair for the server, as its users keep one per peer.
  const keyPair = transport === 'secret-stream' ? SecretStream.keyPair() : null;
  const onSocket = (socket: net.Socket) => {
    side.connections++;
    socket.setNoDelay(true);
    socket.on('close', () => side.connections--);
    socket.on('error', () => undefined);
    // On secret-stream each 'data' is one message; on net/tls a chunk of the byte stream.
    const stream = keyPair ? new SecretStream(false, socket, { keyPair }) : socket;
    const messages = keyPair ? 1 : 0;
    stream.on('error', () => undefined);
    stream.on('data', (chunk: Buffer) => {
      count(counters, chunk.length, messages);
      if (echo.on) stream.write(chunk);
    });
  };
  const server =
    transport === 'tls'
      ? tls.createServer({ ...makeCertificate(), minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }, onSocket)
      : net.createServer(onSocket);
  server.maxConnections = 100_000;
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  side.port = (server.address() as net.AddressInfo).port;
  side.key = keyPair ? keyPair.publicKey.toString('hex') : '';
  side.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return side;
}

/** Counts bytes that arrive and lets one caller at a time wait until `n` more have come. */
function arrivals(): { add(n: number): void; receive(n: number): Promise<void> } {
  let pending = 0;
  let wanted = 0;
  let wake: (() => void) | null = null;
  return {
    add(n) {
      pending += n;
      if (wake && pending >= wanted) {
        pending -= wanted;
        const w = wake;
        wake = null;
        w();
      }
    },
    receive: (bytes) =>
      new Promise<void>((resolve) => {
        if (pending >= bytes) {
          pending -= bytes;
          resolve();
        } else {
          wanted = bytes;
          wake = resolve;
        }
      }),
  };
}

/** The client end of one transport. */
export class ClientFactory {
  // The promise, not the vault: concurrent first opens must share one vault (one worker).
  private vault: Promise<WorkerVault> | null = null;
  private keyPair: ReturnType<typeof SecretStream.keyPair> | null = null;

  constructor(private readonly transport: TransportName, private readonly backend: Backend, private readonly home: string) {}

  async open(port: number, serverKey: string): Promise<ClientConn> {
    const version = curvetunVersion(this.transport);
    if (version) {
      this.vault ??= WorkerVault.open({ secretKeyFile: join(this.home, 'client-key'), create: true, crypto: this.backend });
      const socket: CurvetunSocket = await connect('127.0.0.1', port, { vault: await this.vault, serverKey, crypto: this.backend, timeout: 60_000, ...version });
      const arrived = arrivals();
      socket.on('message', (m) => arrived.add(m.length));
      socket.on('error', () => undefined);
      return {
        pipelined: true,
        send: (data) => socket.send(data),
        receive: arrived.receive,
        close: () => void socket.close(),
      };
    }
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        this.transport === 'tls'
          ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => resolve(s))
          : net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    if (this.transport !== 'secret-stream') return byteStreamConn(socket, () => socket.destroy());
    // As its users do: a static key pair of our own, the Noise handshake on the raw socket, and
    // the server's static key checked once it is known.
    this.keyPair ??= SecretStream.keyPair();
    const stream = new SecretStream(true, socket, { keyPair: this.keyPair });
    stream.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      stream.once('connect', resolve);
      stream.once('error', reject);
      stream.once('close', () => reject(new Error('secret-stream closed during the handshake')));
    });
    if (stream.remotePublicKey?.toString('hex') !== serverKey) {
      stream.destroy();
      throw new Error('secret-stream: the server is not the one expected');
    }
    return byteStreamConn(stream, () => stream.destroy());
  }

  async close(): Promise<void> {
    await (await this.vault)?.close();
  }
}

/** A writer that says "buffer full" by returning false, then emits 'drain' (net, tls, secret-stream). */
interface DrainingStream {
  write(data: Uint8Array): boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

function byteStreamConn(stream: DrainingStream, close: () => void): ClientConn {
  const arrived = arrivals();
  stream.on('data', (chunk: Buffer) => arrived.add(chunk.length));
  // One shared wait for 'drain', however many sends are queued behind it.
  let drain: Promise<void> | null = null;
  return {
    pipelined: false,
    send: (data) => {
      if (stream.write(data)) return drain ?? undefined;
      drain ??= new Promise<void>((resolve) =>
        stream.once('drain', () => {
          drain = null;
          resolve();
        }),
      );
      return drain;
    },
    receive: arrived.receive,
    close,
  };
}
