/**
 * The data path on its own (no sockets): direction separation, counter rules, the end of the
 * counter space, and tampering — for every available crypto backend.
 */
import test from 'ava';
import { availableBackends, getBackend } from '../lib/crypto/index.js';
import { Session } from '../lib/connection/session.js';
import { CurvetunError } from '../lib/errors.js';
import { FrameDecoder, MAX_MESSAGE_BYTES, decodePacket } from '../lib/protocol/index.js';
import type { MessagePacket } from '../lib/protocol/index.js';

function unframe(frame: Uint8Array): MessagePacket {
  const [payload] = new FrameDecoder().push(frame);
  const packet = decodePacket(payload!);
  if (packet.type !== 'message') throw new Error('not a message');
  return packet;
}

for (const name of availableBackends()) {
  const backend = getBackend(name as 'tweetnacl');
  const key = backend.randomBytes(32);

  test(`${name}: client → server and server → client round trip`, (t) => {
    const client = new Session(backend, key, 'client');
    const server = new Session(backend, key, 'server');
    for (const size of [0, 1, 100, MAX_MESSAGE_BYTES]) {
      const m = backend.randomBytes(size);
      t.deepEqual(server.open(unframe(client.seal(m))), m);
      t.deepEqual(client.open(unframe(server.seal(m))), m);
    }
  });

  test(`${name}: counters start at 2 and step by one`, (t) => {
    const client = new Session(backend, key, 'client');
    t.is(unframe(client.seal(new Uint8Array(1))).counter, 2);
    t.is(unframe(client.seal(new Uint8Array(1))).counter, 3);
  });

  test(`${name}: a replayed, reordered or reflected message is refused`, (t) => {
    const client = new Session(backend, key, 'client');
    const server = new Session(backend, key, 'server');
    const first = unframe(client.seal(Buffer.from('a')));
    const second = unframe(client.seal(Buffer.from('b')));
    t.is(t.throws(() => server.open(second), { instanceOf: CurvetunError })!.code, 'EPROTO', 'second before first');
    server.open(first);
    server.open(second);
    t.is(t.throws(() => server.open(first), { instanceOf: CurvetunError })!.code, 'EPROTO');
    t.is(t.throws(() => server.open(second), { instanceOf: CurvetunError })!.code, 'EPROTO');
    // Sent back to its sender, a message does not open even with the counter the sender expects
    // next from the peer: the directions use different nonces.
    const fresh = new Session(backend, key, 'client');
    const own = unframe(fresh.seal(Buffer.from('c')));
    t.is(t.throws(() => fresh.open(own), { instanceOf: CurvetunError })!.code, 'EAUTH');
  });

  test(`${name}: only the very next counter opens: a deleted message (a gap of one or more) is refused`, (t) => {
    const client = new Session(backend, key, 'client');
    const server = new Session(backend, key, 'server');
    const sent = ['m1', 'm2', 'm3', 'm4'].map((m) => unframe(client.seal(Buffer.from(m))));
    t.is(Buffer.from(server.open(sent[0]!)).toString(), 'm1');
    for (const skipped of [sent[2]!, sent[3]!]) {
      const error = t.throws(() => server.open(skipped), { instanceOf: CurvetunError })!;
      t.is(error.code, 'EPROTO');
      t.regex(error.message, /deleted/);
      t.throws(() => server.openInPlace(skipped), { instanceOf: CurvetunError });
    }
    // A refused message does not move the expected counter: the right one still opens.
    t.is(Buffer.from(server.open(sent[1]!)).toString(), 'm2');
  });

  test(`${name}: any flipped bit in the box is refused, and a refused message does not advance the counter`, (t) => {
    const client = new Session(backend, key, 'client');
    const server = new Session(backend, key, 'server');
    const packet = unframe(client.seal(Buffer.from('hello world')));
    for (let i = 0; i < packet.box.length; i++) {
      const box = new Uint8Array(packet.box);
      box[i]! ^= 0x80;
      t.is(t.throws(() => server.open({ ...packet, box }), { instanceOf: CurvetunError })!.code, 'EAUTH');
    }
    t.deepEqual(Buffer.from(server.open(packet)).toString(), 'hello world');
  });

  test(`${name}: openInPlace keeps every rule of open (counter order, direction, tampering) and hands back a view of the frame`, (t) => {
    const client = new Session(backend, key, 'client');
    const server = new Session(backend, key, 'server');
    const m = backend.randomBytes(40_000);
    const frame = client.seal(m);
    const packet = unframe(frame);
    const tampered = unframe(new Uint8Array(frame));
    tampered.box[100]! ^= 1;
    t.is(t.throws(() => server.openInPlace(tampered), { instanceOf: CurvetunError })!.code, 'EAUTH');
    const opened = server.openInPlace(packet);
    t.deepEqual(opened, m);
    t.is(opened.buffer, packet.box.buffer, 'no second buffer');
    t.is(t.throws(() => server.openInPlace(unframe(new Uint8Array(frame))), { instanceOf: CurvetunError })!.code, 'EPROTO', 'an older counter');
    const skipping = (client.seal(m), unframe(client.seal(m)));
    t.is(t.throws(() => server.openInPlace(skipping), { instanceOf: CurvetunError })!.code, 'EPROTO', 'a gap');
    const fresh = new Session(backend, key, 'client');
    const own = unframe(fresh.seal(m));
    t.is(t.throws(() => fresh.openInPlace(own), { instanceOf: CurvetunError })!.code, 'EAUTH', 'reflected');
  });

  test(`${name}: a wrong key does not open`, (t) => {
    const client = new Session(backend, key, 'client');
    const server = new Session(backend, backend.randomBytes(32), 'server');
    t.is(t.throws(() => server.open(unframe(client.seal(Buffer.from('x')))), { instanceOf: CurvetunError })!.code, 'EAUTH');
  });
}

test('the sender stops before its counter passes the limit', (t) => {
  const backend = getBackend('tweetnacl');
  const key = backend.randomBytes(32);
  const client = new Session(backend, key, 'client', 4);
  client.seal(new Uint8Array(1)); // 2
  client.seal(new Uint8Array(1)); // 3
  client.seal(new Uint8Array(1)); // 4
  t.true(client.exhausted);
  t.is(t.throws(() => client.seal(new Uint8Array(1)), { instanceOf: CurvetunError })!.code, 'ECLOSED');
});

test('a message larger than 65 503 bytes is ETOOBIG and does not use a counter', (t) => {
  const backend = getBackend('tweetnacl');
  const client = new Session(backend, backend.randomBytes(32), 'client');
  t.is(t.throws(() => client.seal(new Uint8Array(MAX_MESSAGE_BYTES + 1)), { instanceOf: CurvetunError })!.code, 'ETOOBIG');
  t.is(unframe(client.seal(new Uint8Array(0))).counter, 2);
});

test('sealInto writes at its offset exactly the frame seal makes, and both draw on one counter', (t) => {
  const backend = getBackend('tweetnacl');
  const key = backend.randomBytes(32);
  const viaSeal = new Session(backend, key, 'client');
  const viaInto = new Session(backend, key, 'client');
  const server = new Session(backend, key, 'server');
  for (const [i, size] of [0, 1, 300, 4000].entries()) {
    const m = backend.randomBytes(size);
    const frame = viaSeal.seal(m);
    const out = new Uint8Array(Session.frameBytes(size) + 10).fill(0xee);
    viaInto.sealInto(m, out, 7);
    t.is(Session.frameBytes(size), frame.length);
    t.deepEqual(Buffer.from(out.subarray(7, 7 + frame.length)), Buffer.from(frame), `size ${size}`);
    t.deepEqual([...out.subarray(0, 7), ...out.subarray(7 + frame.length)], new Array(10).fill(0xee), 'nothing written outside the frame');
    t.deepEqual(server.open(unframe(out.subarray(7, 7 + frame.length))), m);
    t.is(unframe(frame).counter, 2 + i);
  }
  // One counter for both: a seal after a sealInto takes the next number.
  const mixed = new Session(backend, key, 'client');
  mixed.sealInto(new Uint8Array(1), new Uint8Array(Session.frameBytes(1)), 0);
  t.is(unframe(mixed.seal(new Uint8Array(1))).counter, 3);
  const exhausted = new Session(backend, key, 'client', 2);
  exhausted.seal(new Uint8Array(1));
  t.is(t.throws(() => exhausted.sealInto(new Uint8Array(1), new Uint8Array(64), 0), { instanceOf: CurvetunError })!.code, 'ECLOSED');
  t.is(t.throws(() => mixed.sealInto(new Uint8Array(MAX_MESSAGE_BYTES + 1), new Uint8Array(70_000), 0), { instanceOf: CurvetunError })!.code, 'ETOOBIG');
});

test('a counter beyond what the receiver supports is refused (EPROTO), the last one inside is accepted', (t) => {
  const backend = getBackend('tweetnacl');
  const key = backend.randomBytes(32);
  const client = new Session(backend, key, 'client');
  const server = new Session(backend, key, 'server', 4);
  for (const expected of ['2', '3', '4']) t.is(Buffer.from(server.open(unframe(client.seal(Buffer.from(expected))))).toString(), expected);
  t.is(t.throws(() => server.open(unframe(client.seal(Buffer.from('5')))), { instanceOf: CurvetunError })!.code, 'EPROTO');
});

test('open leaves the frame it was given untouched (only openInPlace decrypts over it)', (t) => {
  const backend = getBackend('tweetnacl');
  const key = backend.randomBytes(32);
  const client = new Session(backend, key, 'client');
  const server = new Session(backend, key, 'server');
  const packet = unframe(client.seal(Buffer.from('keep my bytes')));
  const before = new Uint8Array(packet.box);
  t.is(Buffer.from(server.open(packet)).toString(), 'keep my bytes');
  t.deepEqual(new Uint8Array(packet.box), before);
});
