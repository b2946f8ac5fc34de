/**
 * A frame-aware TCP proxy on loopback, for tests that play the man in the middle: it forwards
 * whole frames between a client and a server and lets a test drop, alter, duplicate, reflect or
 * record them.
 */
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { FrameDecoder, encodeFrame } from '../../lib/protocol/index.js';

export type Direction = 'toServer' | 'toClient';

export interface FrameContext {
  direction: Direction;
  /** Index of this frame within its direction on this connection (0 = first). */
  index: number;
  /** Index of the proxied connection (0 = first accepted). */
  connection: number;
  /** Write a raw frame payload back to where this frame came from. */
  reflect(payload: Uint8Array): void;
  /** Write a raw frame payload on to where this frame was going, now or later (to hold and reorder). */
  forward(payload: Uint8Array): void;
}

/** Returns the payloads to forward in place of `payload` (default: `[payload]`). */
export type FrameHook = (payload: Uint8Array, ctx: FrameContext) => Uint8Array[] | void;

export interface Proxy {
  port: number;
  /** Every payload seen, per connection and direction, in order. */
  captured: { toServer: Uint8Array[]; toClient: Uint8Array[] }[];
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, hook: FrameHook = () => undefined): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const captured: Proxy['captured'] = [];
  let connections = 0;
  const server: Server = createServer((client) => {
    const connection = connections++;
    const log = { toServer: [] as Uint8Array[], toClient: [] as Uint8Array[] };
    captured.push(log);
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const pipe = (from: Socket, to: Socket, direction: Direction) => {
      const decoder = new FrameDecoder();
      let index = 0;
      from.on('data', (chunk: Buffer) => {
        let frames: Uint8Array[];
        try {
          frames = decoder.push(chunk);
        } catch {
          from.destroy();
          to.destroy();
          return;
        }
        for (const payload of frames) {
          log[direction].push(new Uint8Array(payload));
          const ctx: FrameContext = {
            direction,
            index: index++,
            connection,
            reflect: (p) => from.write(encodeFrame(p)),
            forward: (p) => to.write(encodeFrame(p)),
          };
          const out = hook(new Uint8Array(payload), ctx) ?? [payload];
          for (const p of out) to.write(encodeFrame(p));
        }
      });
      from.on('close', () => to.destroy());
      from.on('error', () => to.destroy());
    };
    pipe(client, upstream, 'toServer');
    pipe(upstream, client, 'toClient');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    captured,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Replay `payloads` on a fresh TCP connection to `port`, one frame after another; returns the socket. */
export async function replay(port: number, payloads: Uint8Array[]): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  for (const p of payloads) socket.write(encodeFrame(p));
  return socket;
}
