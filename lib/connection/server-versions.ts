/**
 * One port, both versions: the server reads the first frame, tells v1 from v2 by its magic, and
 * runs that version's half, provided the listener's `protocols` list has it. A version the
 * listener does not speak is closed without a word (a v1 peer cannot be told why anyway, and a
 * v2 client reports `EHANDSHAKE`, never falls back).
 */
import { CurvetunError } from '../errors.js';
import { MAGIC_HELLO, decodePacket } from '../protocol/index.js';
import { V2_MAGIC_HELLO, hasMagic } from '../protocol/v2/index.js';
import type { Protocol } from './data-session.js';
import { serverHandshake } from './handshake.js';
import type { FrameIO, HandshakeResult, ServerHandshakeOptions } from './handshake.js';
import { serverHandshakeV2 } from './handshake-v2-server.js';
import type { ServerHandshakeV2Options } from './handshake-v2-server.js';

export interface ServerVersionsOptions {
  protocols: readonly Protocol[];
  v1: ServerHandshakeOptions;
  v2: ServerHandshakeV2Options;
}

export async function serverHandshakeAnyVersion(io: FrameIO, options: ServerVersionsOptions): Promise<HandshakeResult> {
  const first = await io.nextFrame();
  if (hasMagic(first, V2_MAGIC_HELLO)) {
    if (!options.protocols.includes('v2')) throw new CurvetunError('EPROTO', 'a v2 Hello, and this listener speaks only v1');
    return serverHandshakeV2(io, first, options.v2);
  }
  if (hasMagic(first, MAGIC_HELLO)) {
    if (!options.protocols.includes('v1')) throw new CurvetunError('EPROTO', 'a v1 Hello, and this listener speaks only v2');
    let replayed = false;
    // The v1 half reads its Hello itself: hand it the frame already read, then the rest.
    const v1io = { ...io, next: () => (replayed ? io.next() : ((replayed = true), Promise.resolve(decodePacket(first)))) };
    return serverHandshake(v1io, options.v1);
  }
  decodePacket(first); // EPROTO naming what it is (or is not)
  throw new CurvetunError('EPROTO', 'expected a Hello (v1 or v2) as the first packet');
}
