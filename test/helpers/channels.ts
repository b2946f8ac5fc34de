/**
 * Channel sessions over real curvetun connections for tests: a connected pair, and a raw peer that
 * speaks channel frames by hand (to send what a well-behaved session never would).
 */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { connect } from '../../lib/index.js';
import type { CurvetunSocket } from '../../lib/index.js';
import { decodeChannelFrame, encodeChannelFrame } from '../../lib/channels/index.js';
import type { ChannelFrame } from '../../lib/channels/index.js';
import type { World } from './fixtures.js';

export async function socketPair(world: World): Promise<{ client: CurvetunSocket; server: CurvetunSocket }> {
  const listener = await world.listen();
  const accepted = listener.accept({ timeout: 30_000 });
  const client = await connect('127.0.0.1', listener.address().port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: 30_000 });
  return { client, server: await accepted };
}

/**
 * Everything a readable side gives until its end, joined. (Not `for await`: leaving that loop
 * destroys the stream, writable side included.)
 */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Resolves with the error a stream is destroyed with (rejects if it ends cleanly). */
export async function failureOf(stream: Duplex): Promise<Error & { code?: string }> {
  const [error] = (await once(stream, 'error')) as [Error & { code?: string }];
  return error;
}

/** A peer that sends and receives channel frames by hand over a socket. */
export class RawPeer {
  private readonly queue: ChannelFrame[] = [];
  private wake: (() => void) | null = null;

  constructor(readonly socket: CurvetunSocket) {
    socket.on('message', (message) => {
      this.queue.push(decodeChannelFrame(message));
      this.wake?.();
    });
  }

  send(frame: ChannelFrame): Promise<void> {
    return this.socket.send(encodeChannelFrame(frame));
  }

  sendBytes(bytes: Uint8Array): Promise<void> {
    return this.socket.send(bytes);
  }

  /** The next frame matching `pick` (earlier ones that do not match are skipped and returned). */
  async next(pick: (frame: ChannelFrame) => boolean, timeoutMs = 30_000): Promise<ChannelFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.queue.findIndex(pick);
      if (i >= 0) return this.queue.splice(i, 1)[0]!;
      if (this.socket.closed) throw new Error(`connection closed while waiting for a frame (${this.socket.closeReason?.message})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no such frame in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Frames received and not taken yet. */
  get pending(): readonly ChannelFrame[] {
    return this.queue;
  }
}

export const is = (type: ChannelFrame['type'], channel?: number) => (f: ChannelFrame) => f.type === type && (channel === undefined || f.channel === channel);
