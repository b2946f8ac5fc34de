/**
 * The receiver's epoch ceiling (PROTOCOL.md, "v2 session", key update): a peer whose epoch passes
 * 2^21 frames or 2^31 plaintext bytes without a KEY_UPDATE is EPROTO. The peer here is hostile: a
 * bare sending Direction (lib's sealing, none of SessionV2's thresholds), so it never updates its
 * key unless told to; the receiver is the real SessionV2 on the fastest crypto backend available.
 * Frames are sealed into one reused buffer (the byte tests move 4 GiB through 64 KiB), and the
 * loops yield now and then so the test process stays responsive. The last test does the byte rule
 * end to end: a hostile client (the library's client half on raw TCP, sealing its frames without
 * the thresholds) against a real listener, which must close that connection EPROTO and keep
 * serving. No timing is asserted.
 */
import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import test from 'ava';
import { availableBackends, getBackend } from '../lib/crypto/index.js';
import { getKem } from '../lib/crypto/mlkem.js';
import { clientHandshakeV2 } from '../lib/connection/handshake-v2-client.js';
import { Direction, SessionV2 } from '../lib/connection/session-v2.js';
import { CurvetunError } from '../lib/errors.js';
import { connect } from '../lib/index.js';
import type { CurvetunSocket } from '../lib/index.js';
import { makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { frameIO } from './helpers/frame-io.js';
import { MessageType, V2_EPOCH_CEILING, V2_MAX_BODY_BYTES, V2_MESSAGE_OVERHEAD, V2_REKEY_AFTER } from '../lib/protocol/v2/index.js';

const backendName = availableBackends()[0]!;
const backend = getBackend(backendName);
const LIMITS = { peerMaxMessageBytes: 1 << 20, ourMaxMessageBytes: 1 << 20 };
/** The numbers PROTOCOL.md states; the constants must be them (a raised ceiling is a weaker rule). */
const CEILING_FRAMES = 2 ** 21;
const CEILING_BYTES = 2 ** 31;
/** The largest DATA plaintext (type byte and a 65 518-byte body). */
const FULL_PLAINTEXT = V2_MAX_BODY_BYTES + 1;

/** A receiving session, and a hostile sender of the same direction that only does what it is told. */
function receiverAndHostilePeer(): { receiver: SessionV2; receiving: Direction; peer: HostilePeer } {
  const secret = backend.randomBytes(32);
  const receiving = Direction.clientToServer(secret.slice());
  const receiver = new SessionV2(backend, { send: Direction.serverToClient(backend.randomBytes(32)), receive: receiving }, LIMITS);
  return { receiver, receiving, peer: new HostilePeer(Direction.clientToServer(secret), receiver) };
}

class HostilePeer {
  /** One frame payload buffer per plaintext size, reused for every frame of that size. */
  private readonly frames = new Map<number, { plaintext: Uint8Array; frame: Uint8Array }>();
  /** Frames the receiver took (messages delivered or control frames handled). */
  accepted = 0;

  constructor(
    private readonly send: Direction,
    private readonly receiver: SessionV2,
  ) {}

  /** `count` DATA frames of `plaintextBytes` each (type byte included), every one delivered whole. */
  async data(count: number, plaintextBytes = 1): Promise<void> {
    const { plaintext, frame } = this.buffers(MessageType.DATA, plaintextBytes);
    for (let i = 0; i < count; i++) {
      this.send.sealInto(frame, 0, plaintext, backend);
      const message = this.receiver.receive(frame);
      if (message === null || message.length !== plaintextBytes - 1) throw new Error(`frame ${this.accepted + 1} was not delivered whole`);
      this.accepted++;
      if (i % 32_768 === 32_767) await nextTurn();
    }
  }

  /** A KEY_UPDATE under the current key; then this sender moves to the next epoch, as the receiver should. */
  keyUpdate(): void {
    const { plaintext, frame } = this.buffers(MessageType.KEY_UPDATE, 1);
    this.send.sealInto(frame, 0, plaintext, backend);
    if (this.receiver.receive(frame) !== null) throw new Error('a KEY_UPDATE delivered a message');
    this.accepted++;
    this.send.update();
  }

  /** What the receiver throws for one more DATA frame of `plaintextBytes`. */
  refusal(plaintextBytes = 1): unknown {
    try {
      const { plaintext, frame } = this.buffers(MessageType.DATA, plaintextBytes);
      this.send.sealInto(frame, 0, plaintext, backend);
      this.receiver.receive(frame);
    } catch (error) {
      return error;
    }
    return null;
  }

  private buffers(type: number, plaintextBytes: number): { plaintext: Uint8Array; frame: Uint8Array } {
    const key = type * 2 ** 17 + plaintextBytes;
    let made = this.frames.get(key);
    if (!made) {
      const plaintext = new Uint8Array(plaintextBytes);
      plaintext[0] = type;
      made = { plaintext, frame: new Uint8Array(plaintextBytes + V2_MESSAGE_OVERHEAD - 1) };
      this.frames.set(key, made);
    }
    return made;
  }
}

/** Fill the current epoch with exactly `bytes` plaintext bytes of DATA: full frames, then one shorter. */
async function dataBytes(peer: HostilePeer, bytes: number): Promise<void> {
  const full = Math.floor(bytes / FULL_PLAINTEXT);
  await peer.data(full, FULL_PLAINTEXT);
  const rest = bytes - full * FULL_PLAINTEXT;
  if (rest > 0) await peer.data(1, rest);
}

function isEproto(t: { true(v: boolean, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, error: unknown, what: string): void {
  t.true(error instanceof CurvetunError, `${what}: a CurvetunError, got ${String(error)}`);
  t.is((error as CurvetunError).code, 'EPROTO', what);
  t.true(/did not update its key/.test((error as Error).message), `${what}: the message says why (${(error as Error).message})`);
}

test('the ceiling is the documented 2^21 frames / 2^31 bytes, twice the sender defaults', (t) => {
  t.deepEqual({ ...V2_EPOCH_CEILING }, { frames: CEILING_FRAMES, bytes: CEILING_BYTES });
  t.is(V2_EPOCH_CEILING.frames, 2 * V2_REKEY_AFTER.messages);
  t.is(V2_EPOCH_CEILING.bytes, 2 * V2_REKEY_AFTER.bytes);
  t.log(`crypto backend: ${backendName}`);
});

test('frames: a peer that never updates its key gets exactly 2^21 frames of one epoch accepted; the next is EPROTO', async (t) => {
  const { receiver, peer } = receiverAndHostilePeer();
  await peer.data(CEILING_FRAMES);
  t.is(peer.accepted, CEILING_FRAMES);
  t.is(receiver.position.receiveEpoch, 0);
  isEproto(t, peer.refusal(), 'frame 2^21 + 1');
});

test('frames: a KEY_UPDATE (the epoch\'s 2^21st frame) starts the count again: 2^21 more accepted, then EPROTO', async (t) => {
  const { receiver, peer } = receiverAndHostilePeer();
  await peer.data(CEILING_FRAMES - 1);
  peer.keyUpdate();
  t.is(receiver.position.receiveEpoch, 1);
  await peer.data(CEILING_FRAMES);
  t.is(peer.accepted, 2 * CEILING_FRAMES);
  isEproto(t, peer.refusal(), 'epoch 1, frame 2^21 + 1');
});

test('bytes: an epoch of exactly 2^31 plaintext bytes is accepted; one byte more is EPROTO', async (t) => {
  const { receiver, peer } = receiverAndHostilePeer();
  await dataBytes(peer, CEILING_BYTES);
  t.true(peer.accepted < CEILING_FRAMES / 16, 'far below the frame ceiling: the byte rule is what refuses');
  t.is(receiver.position.receiveEpoch, 0);
  isEproto(t, peer.refusal(1), 'byte 2^31 + 1 (an empty DATA: its type byte)');
});

test('bytes: a KEY_UPDATE starts the byte count again: 2^31 more accepted, then EPROTO', async (t) => {
  const { receiver, peer } = receiverAndHostilePeer();
  await dataBytes(peer, CEILING_BYTES - 1);
  peer.keyUpdate(); // its one plaintext byte makes epoch 0 exactly 2^31
  t.is(receiver.position.receiveEpoch, 1);
  await dataBytes(peer, CEILING_BYTES);
  isEproto(t, peer.refusal(FULL_PLAINTEXT), 'epoch 1, past 2^31 bytes');
});

let world: World;
// The same rules at their edge, from an epoch placed near its end (the receiver's counts set
// directly; the tests above walk there frame by frame). Cheap enough for `npm run mutate`.
test('near the ceiling, frames: the 2^21st frame of an epoch is accepted, the next is EPROTO', async (t) => {
  const { receiving, peer } = receiverAndHostilePeer();
  receiving.epochFrames = CEILING_FRAMES - 2;
  await peer.data(2);
  t.is(receiving.epochFrames, CEILING_FRAMES);
  isEproto(t, peer.refusal(), 'frame 2^21 + 1');
});

test('near the ceiling, bytes: exactly 2^31 plaintext bytes are accepted, one byte more is EPROTO, however few the frames', async (t) => {
  const { receiving, peer } = receiverAndHostilePeer();
  receiving.epochBytes = CEILING_BYTES - 1000;
  await peer.data(1, 1000);
  t.is(receiving.epochBytes, CEILING_BYTES);
  t.true(receiving.epochFrames < 10);
  isEproto(t, peer.refusal(1), 'byte 2^31 + 1');
});

test('near the ceiling: a KEY_UPDATE as the last frame of a full epoch starts the next one, whose frames are accepted', async (t) => {
  const { receiver, receiving, peer } = receiverAndHostilePeer();
  receiving.epochFrames = CEILING_FRAMES - 1;
  peer.keyUpdate();
  await peer.data(3, 100);
  t.is(receiver.position.receiveEpoch, 1);
  t.is(receiving.epochFrames, 3);
});

test.before(async () => {
  world = await makeWorld();
});
test.after.always(() => world.dispose());

test('end to end: a hostile client past 2^31 bytes without a KEY_UPDATE is closed EPROTO by a real listener, after every byte up to the ceiling; the listener serves the next client', async (t) => {
  const listener = await world.listen({ crypto: backend });
  const served: { delivered: number; error: unknown }[] = [];
  const accepted: CurvetunSocket[] = [];
  const serving = (async () => {
    for await (const socket of listener) {
      accepted.push(socket);
      const record = { delivered: 0, error: null as unknown };
      served.push(record);
      void (async () => {
        try {
          for await (const message of socket) {
            record.delivered += 1 + message.length; // its plaintext: type byte and body
            if (message.length < 16) await socket.send(message); // the honest client's echo
          }
        } catch (error) {
          record.error = error;
        }
      })();
    }
  })();

  const tcp = tcpConnect(listener.address().port, '127.0.0.1');
  await once(tcp, 'connect');
  t.teardown(() => tcp.destroy());
  tcp.on('error', () => undefined); // a write after the listener closed us; the outcome is checked below
  const closed = once(tcp, 'close');
  const { session } = await clientHandshakeV2(frameIO(tcp), { backend, kem: getKem(), vault: world.clientVault, serverKey: world.serverVault.publicKey, suite: 1, maxMessageBytes: 1 << 20 });
  // sealControl seals any plaintext as the next frame and never checks rekeyAfter: no KEY_UPDATE ever.
  const send = async (plaintextBytes: number) => {
    const plaintext = new Uint8Array(plaintextBytes);
    plaintext[0] = MessageType.DATA;
    if (!tcp.write(session.sealControl(plaintext))) await Promise.race([once(tcp, 'drain'), closed]);
  };
  const full = Math.floor(CEILING_BYTES / FULL_PLAINTEXT);
  for (let i = 0; i < full && !tcp.destroyed; i++) await send(FULL_PLAINTEXT);
  await send(CEILING_BYTES - full * FULL_PLAINTEXT);
  await send(1); // one byte past the ceiling
  await within(closed, 60_000, 'the listener closing the hostile connection');
  const deadline = Date.now() + 60_000;
  while (served[0]?.error == null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const record = served[0]!;
  // As for any bad frame: the close reason is the EPROTO; the waiting recv learns it as ECLOSED's cause.
  t.is(accepted[0]!.closeReason?.code, 'EPROTO');
  t.regex(accepted[0]!.closeReason?.message ?? '', /did not update its key/);
  t.true(record.error instanceof CurvetunError, `the iterator failed with a CurvetunError, got ${String(record.error)}`);
  t.is(((record.error as CurvetunError).cause as CurvetunError | undefined)?.code, 'EPROTO');
  t.is(record.delivered, CEILING_BYTES, 'every message up to the ceiling was delivered, none after it');

  const honest = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, protocol: 'v2', timeout: 30_000 });
  await honest.send(new Uint8Array([1, 2, 3]));
  t.deepEqual(await honest.recv(), new Uint8Array([1, 2, 3]));
  await honest.close();
  await listener.close();
  await serving;
});
