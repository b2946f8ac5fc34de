/**
 * A FrameIO (what the handshake halves read and write) over a raw TCP socket, for hostile peers
 * built from the library's own handshake code: whole frame payloads in, framed payloads out.
 */
import type { Socket } from 'node:net';
import type { FrameIO } from '../../lib/connection/handshake.js';
import { FrameDecoder, encodeFrame } from '../../lib/protocol/index.js';

export function frameIO(socket: Socket): FrameIO {
  const decoder = new FrameDecoder();
  const inbox: Uint8Array[] = [];
  const waiting: { resolve(p: Uint8Array): void; reject(e: Error): void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const payload of decoder.push(chunk)) {
      const copy = new Uint8Array(payload);
      const reader = waiting.shift();
      if (reader) reader.resolve(copy);
      else inbox.push(copy);
    }
  });
  socket.on('close', () => {
    for (const reader of waiting.splice(0)) reader.reject(new Error('closed'));
  });
  socket.on('error', () => undefined);
  return {
    next: () => Promise.reject(new Error('a v2 server reads no v1 packet')),
    nextFrame: () => (inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((resolve, reject) => waiting.push({ resolve, reject }))),
    send: (payload) => void socket.write(encodeFrame(payload)),
  };
}
