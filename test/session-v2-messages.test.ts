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
import { V2_MAX_BODY_BYTES, V2_PREFIX_CLIENT_MESSAGE, encodeControl, encodeFragment } from '../lib/protocol/v2/index.js';
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

// The rules' edges, one check each (what `npm run mutate` found untested).

test('a key update is due exactly at each threshold: after the 3rd frame of rekeyAfter.messages 3, the 100th plaintext byte of rekeyAfter.bytes 100, the 5 000th ms of rekeyAfter.ms 5 000', (t) => {
  const framesOf = (sealed: Uint8Array) => unframe(sealed).length;
  {
    const { client, server } = pair();
    client.attach(new Recorder(), { messages: 3 });
    const firstThree = [1, 2, 3].map((i) => client.seal(bytes(10, i)));
    t.deepEqual(firstThree.map(framesOf), [1, 1, 1], 'three messages of epoch 0');
    for (const sealed of firstThree) deliver(server, sealed);
    const fourth = client.seal(bytes(10, 4));
    t.is(framesOf(fourth), 2, 'the 4th is preceded by its KEY_UPDATE');
    t.is(client.position.sendEpoch, 1);
    t.is(deliver(server, fourth).length, 1);
  }
  {
    const { client } = pair();
    client.attach(new Recorder(), { bytes: 100 });
    t.is(framesOf(client.seal(bytes(99, 1))), 1, '99 bytes + the type byte: 100 plaintext bytes');
    t.is(framesOf(client.seal(bytes(1, 2))), 2, 'the epoch has carried its 100 bytes');
  }
  // The clock held still for the ms rule (restored below): an epoch of 5 000 ms is over at 5 000 ms.
  const realNow = Date.now;
  let clock = 1_000_000;
  Date.now = () => clock;
  try {
    const { client } = pair();
    client.attach(new Recorder(), { ms: 5000 });
    clock += 4999;
    t.is(framesOf(client.seal(bytes(1, 1))), 1, 'at 4 999 ms the key still serves');
    clock += 1;
    t.is(framesOf(client.seal(bytes(1, 2))), 2, 'at 5 000 ms its time is up');
  } finally {
    Date.now = realNow;
  }
});

test('frameBytes asked twice before the seal (as the outbox does) still counts the KEY_UPDATE that is due', (t) => {
  const { client, server } = pair();
  client.attach(new Recorder(), { messages: 1 });
  deliver(server, client.seal(bytes(10, 1)));
  const expected = client.frameBytes(70_000);
  t.is(client.frameBytes(70_000), expected);
  const sealed = client.seal(bytes(70_000, 2));
  t.is(sealed.length, expected);
  t.deepEqual(unframe(sealed).length, 3, 'a KEY_UPDATE and two fragments');
  t.true(Buffer.from(deliver(server, sealed)[0]!).equals(bytes(70_000, 2)));
});

test('keyTimeLeftMs counts down from rekeyAfter.ms since the epoch began', (t) => {
  const { client } = pair();
  client.attach(new Recorder(), { ms: 5000 });
  const now = Date.now();
  const left = client.keyTimeLeftMs(now);
  t.true(left > 4000 && left <= 5000, `${left} ms left`);
  t.is(client.keyTimeLeftMs(now + 1000), left - 1000);
  t.true(client.keyTimeLeftMs(now + 6000) < 0, 'its time is up');
});

test('a message that does not fit in the counter space is ECLOSED before any frame is sealed, a due KEY_UPDATE counted', (t) => {
  const tight = (last: number) => {
    const c2s = backend.randomBytes(32);
    const limits = { peerMaxMessageBytes: 1 << 20, ourMaxMessageBytes: 1 << 20 };
    return new SessionV2(backend, { send: new Direction(c2s, V2_PREFIX_CLIENT_MESSAGE, last), receive: Direction.serverToClient(backend.randomBytes(32)) }, limits);
  };
  {
    // Counters 0..2: after one message, room for 2 frames; 140 000 bytes take 3.
    const session = tight(2);
    session.seal(bytes(10));
    t.is(refusal(() => session.seal(bytes(140_000))).code, 'ECLOSED');
    t.is(session.position.sent, 1, 'no counter used');
    t.is(unframe(session.seal(bytes(70_000))).length, 2, 'two fragments still fit');
  }
  {
    // Room for 2 frames, a KEY_UPDATE due: 2 fragments + the update do not fit.
    const session = tight(2);
    session.attach(new Recorder(), { messages: 1 });
    session.seal(bytes(10));
    t.is(refusal(() => session.seal(bytes(70_000))).code, 'ECLOSED');
    t.deepEqual([session.position.sent, session.position.sendEpoch], [1, 0], 'no counter used, no key update sent');
  }
});

test('PING / PONG: a PONG must repeat all 8 bytes (one changed byte is EPROTO); the PING kept is ours, not the caller buffer; pinging until answered', (t) => {
  for (const changedAt of [0, 7]) {
    const { client, server } = pair();
    const payload = bytes(8, 5);
    client.sealPing(payload); // not delivered: the server would answer it with the first frame it seals
    t.true(client.pinging);
    // A PONG sealed by the server with one byte of the PING changed.
    const plain = encodeControl('pong', payload);
    plain[1 + changedAt]! ^= 1;
    t.is(refusal(() => deliver(client, server.sealControl(plain))).code, 'EPROTO', `byte ${changedAt} changed`);
  }
  {
    const { client, server, serverOwner } = pair();
    const payload = bytes(8, 6);
    deliver(server, client.sealPing(payload)!);
    payload.fill(0); // the caller reuses its buffer
    t.true(client.pinging);
    t.deepEqual(deliver(client, serverOwner.frames[0]!), [], 'the PONG of the bytes sent is accepted');
    t.false(client.pinging);
  }
});

test('a frame shorter than a v2 box is EPROTO (it cannot be a message), and errors name the message type they refuse', (t) => {
  const { client, server } = pair();
  const short = refusal(() => server.receive(new Uint8Array(10)));
  t.is(short.code, 'EPROTO');
  t.regex(short.message, /at least/);
  const first = encodeFragment(bytes(1000), V2_MAX_BODY_BYTES + 10);
  deliver(server, client.sealControl(first));
  t.regex(refusal(() => deliver(server, client.seal(bytes(5)))).message, /a DATA inside a fragmented message/);
  t.regex(refusal(() => deliver(server, client.sealControl(first))).message, /a FRAGMENT_FIRST inside/);
  const ending = pair();
  deliver(ending.server, ending.client.sealControl(first));
  t.regex(refusal(() => deliver(ending.server, ending.client.sealEnd())).message, /END cut off/);
  const closing = pair();
  deliver(closing.server, closing.client.sealControl(first));
  t.regex(refusal(() => deliver(closing.server, closing.client.sealClose(0, ''))).message, /CLOSE cut off/);
});
