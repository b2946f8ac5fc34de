/**
 * The v2 session's typed messages on their own (no sockets, real crypto): fragments (delivered
 * whole, control messages between their parts, our limit checked before any byte is kept, nothing
 * else allowed inside), END / CLOSE rules, PING → PONG and unsolicited PONGs, and key updates after
 * each threshold (both ends change epoch, no message lost or repeated).
 */
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { Direction, SessionV2 } from '../lib/connection/session-v2.js';
import type { SessionV2Owner } from '../lib/connection/session-v2.js';
import { FrameDecoder } from '../lib/protocol/index.js';
import { V2_MAX_BODY_BYTES, encodeControl, encodeFragment } from '../lib/protocol/v2/index.js';
import { bytes } from './helpers/fixtures.js';
import { refusal } from './helpers/refusal.js';

const backend = getBackend('auto');

/** Every frame payload in a buffer of whole frames. */
const unframe = (frames: Uint8Array) => new FrameDecoder().push(frames).map((p) => new Uint8Array(p));

class Recorder implements SessionV2Owner {
  frames: Uint8Array[] = [];
  ends = 0;
  closes: [number, string][] = [];
  queueControlFrame(frame: Uint8Array) {
    this.frames.push(frame);
  }
  endReceived() {
    this.ends++;
  }
  closeReceived(code: number, reason: string) {
    this.closes.push([code, reason]);
  }
}

function pair(limits = { client: 32 << 20, server: 32 << 20 }) {
  const c2s = backend.randomBytes(32);
  const s2c = backend.randomBytes(32);
  const client = new SessionV2(backend, { send: Direction.clientToServer(c2s.slice()), receive: Direction.serverToClient(s2c.slice()) }, { peerMaxMessageBytes: limits.server, ourMaxMessageBytes: limits.client });
  const server = new SessionV2(backend, { send: Direction.serverToClient(s2c.slice()), receive: Direction.clientToServer(c2s.slice()) }, { peerMaxMessageBytes: limits.client, ourMaxMessageBytes: limits.server });
  const clientOwner = new Recorder();
  const serverOwner = new Recorder();
  client.attach(clientOwner);
  server.attach(serverOwner);
  return { client, server, clientOwner, serverOwner };
}

/** What `receiver` delivers for every frame in `frames`. */
const deliver = (receiver: SessionV2, frames: Uint8Array) => unframe(frames).map((f) => receiver.receive(f)).filter((m) => m !== null);

test('a message over 65 518 bytes goes as fragments and arrives whole; sizes around the boundaries', (t) => {
  const { client, server } = pair();
  for (const size of [V2_MAX_BODY_BYTES, V2_MAX_BODY_BYTES + 1, 2 * V2_MAX_BODY_BYTES - 4, 2 * V2_MAX_BODY_BYTES - 3, 5_000_000]) {
    const m = bytes(size, size);
    const sealed = client.seal(m);
    t.is(sealed.length, client.frameBytes(size));
    const got = deliver(server, sealed);
    t.is(got.length, 1, `${size}: one message`);
    // Buffer's compare: ava's deepEqual takes seconds over megabytes.
    t.true(Buffer.from(got[0]!).equals(m), `${size} bytes`);
  }
});

test('send() over the peer limit is ETOOBIG, nothing sealed; a FRAGMENT_FIRST over ours is ETOOBIG before any byte is kept', (t) => {
  const small = pair({ client: 32 << 20, server: 100_000 });
  t.is(refusal(() => small.client.seal(bytes(100_001))).code, 'ETOOBIG');
  t.is(small.client.position.sent, 0, 'nothing sealed');
  // A peer that ignores our limit (its own idea of it is larger): we refuse at the first fragment.
  const liar = pair({ client: 32 << 20, server: 32 << 20 });
  (liar.server.limits as { ourMaxMessageBytes: number }).ourMaxMessageBytes = 100_000;
  const frames = unframe(liar.client.seal(bytes(100_001)));
  const error = refusal(() => liar.server.receive(frames[0]!));
  t.is(error.code, 'ETOOBIG');
  t.is(liar.server.reassemblingBytes, 0);
});

test('PING, PONG and KEY_UPDATE between fragments are handled; DATA, FRAGMENT_FIRST or a second END inside are refused; END / CLOSE cut it off (ETRUNCATED)', (t) => {
  const total = V2_MAX_BODY_BYTES + 10;
  const m = bytes(total, 3);
  const first = encodeFragment(m.subarray(0, 1000), total);
  const rest = encodeFragment(m.subarray(1000));
  {
    const { client, server, serverOwner } = pair();
    const ping = bytes(8, 9);
    const got = deliver(server, Buffer.concat([client.sealControl(first), client.sealControl(encodeControl('ping', ping)), client.sealKeyUpdate(), client.sealControl(rest)]));
    t.deepEqual(got, [m]);
    t.is(serverOwner.frames.length, 1, 'a PONG was queued');
    t.is(server.position.receiveEpoch, 1);
    // The PONG answers with the same 8 bytes: it opens at the client only if it had pinged them.
    t.is(refusal(() => client.receive(unframe(serverOwner.frames[0]!)[0]!)).code, 'EPROTO', 'an unsolicited PONG');
  }
  {
    const { client, server } = pair();
    const pingFrame = client.sealPing(bytes(8, 1))!;
    t.is(client.sealPing(bytes(8, 2)), null, 'at most one PING outstanding');
    t.truthy(pingFrame);
    const owner = new Recorder();
    server.attach(owner);
    deliver(server, pingFrame);
    t.deepEqual(deliver(client, owner.frames[0]!), []);
    t.false(client.pinging, 'the PONG answered it');
  }
  for (const [inside, code] of [
    [encodeControl('end'), 'ETRUNCATED'],
    [new Uint8Array([0x10, 1, 2, 3]), 'EPROTO'],
    [first, 'EPROTO'],
  ] as const) {
    const { client, server } = pair();
    deliver(server, client.sealControl(first));
    t.is(refusal(() => deliver(server, client.sealControl(inside))).code, code);
  }
  {
    const { client, server } = pair();
    deliver(server, client.sealControl(first));
    t.is(refusal(() => deliver(server, client.sealClose(7, 'cut'))).code, 'ETRUNCATED');
  }
  {
    const { client, server } = pair();
    t.is(refusal(() => deliver(server, client.sealControl(rest))).code, 'EPROTO', 'FRAGMENT_MORE outside a message');
  }
  {
    const { client, server } = pair();
    deliver(server, client.sealControl(first));
    t.is(refusal(() => deliver(server, client.sealControl(encodeFragment(bytes(V2_MAX_BODY_BYTES, 1))))).code, 'EPROTO', 'a part that overruns its total');
  }
});

test('END: no more messages from that side (DATA after it is EPROTO, a second END too); CLOSE reaches the owner with its code and reason', (t) => {
  const { client, server, serverOwner } = pair();
  deliver(server, client.sealEnd());
  t.is(serverOwner.ends, 1);
  t.true(server.endReceived);
  t.is(refusal(() => client.seal(bytes(1))).code, 'ECLOSED', 'we cannot send after our END');
  t.false(server.tcpEndIsTruncation(), 'a TCP end after END is not a truncation');
  t.is(refusal(() => deliver(server, client.sealControl(new Uint8Array([0x10, 1])))).code, 'EPROTO');
  const again = pair();
  deliver(again.server, again.client.sealEnd());
  t.is(refusal(() => deliver(again.server, again.client.sealControl(encodeControl('end')))).code, 'EPROTO');
  const closing = pair();
  t.true(closing.server.tcpEndIsTruncation());
  deliver(closing.server, closing.client.sealClose(4000, 'bye ✓'));
  t.deepEqual(closing.serverOwner.closes, [[4000, 'bye ✓']]);
});

for (const threshold of ['messages', 'bytes', 'ms'] as const) {
  test(`key update after rekeyAfter.${threshold}: both ends move epochs, every message arrives once, in order`, (t) => {
    const { client, server } = pair();
    const rekeyAfter = threshold === 'messages' ? { messages: 3 } : threshold === 'bytes' ? { bytes: 10_000 } : { ms: 1 };
    client.attach(new Recorder(), rekeyAfter);
    const sent: Uint8Array[] = [];
    const got: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const m = bytes(i % 7 === 0 ? 70_000 : 1000, i);
      sent.push(m);
      if (threshold === 'ms') {
        const until = Date.now() + 2;
        while (Date.now() < until); // let the 1 ms epoch pass (bounded: 2 ms)
      }
      got.push(...deliver(server, client.seal(m)));
    }
    t.deepEqual(got, sent);
    const { sendEpoch } = client.position;
    t.true(sendEpoch >= 5, `epochs: ${sendEpoch}`);
    t.is(server.position.receiveEpoch, sendEpoch);
    t.is(server.position.received, client.position.sent);
  });
}

test('after a KEY_UPDATE a frame sealed under the old epoch does not open; the next epoch is KDF(T, "ctun2 key update") on both ends', (t) => {
  const c2s = backend.randomBytes(32);
  const limits = { peerMaxMessageBytes: 1 << 20, ourMaxMessageBytes: 1 << 20 };
  const client = new SessionV2(backend, { send: Direction.clientToServer(c2s.slice()), receive: Direction.serverToClient(backend.randomBytes(32)) }, limits);
  const server = new SessionV2(backend, { send: Direction.serverToClient(backend.randomBytes(32)), receive: Direction.clientToServer(c2s.slice()) }, limits);
  // A copy of the client's epoch-0 direction: what someone holding the old key could seal.
  const oldEpoch = Direction.clientToServer(c2s.slice());
  deliver(server, client.sealKeyUpdate());
  oldEpoch.counter = 1;
  const stale = oldEpoch.sealPayload(new Uint8Array([0x10, 1, 2, 3]), backend);
  t.is(refusal(() => server.receive(stale)).code, 'EAUTH');
  t.deepEqual(deliver(server, client.seal(bytes(5))), [bytes(5)], 'the new epoch opens');
});
