/**
 * The v2 data path on its own (no sockets), for every available crypto backend: exactly the next
 * counter opens; a frame that opens only under a later counter is a deletion (EPROTO, as v1's
 * counter gap), anything else that does not open is EAUTH (tampered, replayed, reflected, or a gap
 * beyond the look-ahead); in place (large frames) as in a copy; across a key update.
 */
import test from 'ava';
import { availableBackends, getBackend } from '../lib/crypto/index.js';
import { DELETION_LOOK_AHEAD, Direction, SessionV2 } from '../lib/connection/session-v2.js';
import { CurvetunError } from '../lib/errors.js';
import { IN_PLACE_MIN_BYTES } from '../lib/limits.js';
import { FrameDecoder } from '../lib/protocol/index.js';
import { MessageType, V2_MAX_BODY_BYTES, encodeReady, encodeReject, V2_PREFIX_CLIENT_MESSAGE, V2_PREFIX_SERVER_MESSAGE } from '../lib/protocol/v2/index.js';

/** The frame payload the receiver's socket hands to `receive` (no length header). */
function unframe(frame: Uint8Array): Uint8Array {
  const [payload] = new FrameDecoder().push(frame);
  return payload!;
}

const LIMITS = { peerMaxMessageBytes: 1 << 20, ourMaxMessageBytes: 1 << 20 };

for (const name of availableBackends()) {
  const backend = getBackend(name as 'tweetnacl');

  /** A client and a server session over the same two traffic secrets. */
  const pair = () => {
    const c2s = backend.randomBytes(32);
    const s2c = backend.randomBytes(32);
    const client = new SessionV2(backend, { send: Direction.clientToServer(c2s.slice()), receive: Direction.serverToClient(s2c.slice()) }, LIMITS);
    const server = new SessionV2(backend, { send: Direction.serverToClient(s2c.slice()), receive: Direction.clientToServer(c2s.slice()) }, LIMITS);
    return { client, server };
  };
  const refusal = (fn: () => unknown) => {
    const error = (() => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return null;
    })();
    if (!(error instanceof CurvetunError)) throw new Error(`expected a CurvetunError, got ${String(error)}`);
    return error;
  };

  test(`${name}: DATA both ways, small and in place`, (t) => {
    const { client, server } = pair();
    for (const size of [0, 1, IN_PLACE_MIN_BYTES, V2_MAX_BODY_BYTES]) {
      const m = backend.randomBytes(size);
      t.deepEqual(server.receive(unframe(client.seal(m))), m);
      t.deepEqual(client.receive(unframe(server.seal(m))), m);
    }
  });

  for (const size of [5, IN_PLACE_MIN_BYTES + 5]) {
    test(`${name}: a deleted frame (gap 1 … ${DELETION_LOOK_AHEAD}) is EPROTO naming the gap, ${size}-byte messages`, (t) => {
      for (const gap of [1, 2, DELETION_LOOK_AHEAD]) {
        const { client, server } = pair();
        const sent = Array.from({ length: gap + 2 }, (_, i) => unframe(client.seal(new Uint8Array(size).fill(i))));
        t.deepEqual(server.receive(sent[0]!), new Uint8Array(size).fill(0));
        const error = refusal(() => server.receive(sent[gap + 1]!));
        t.is(error.code, 'EPROTO', `gap ${gap}`);
        t.regex(error.message, new RegExp(`skips ${gap} message\\(s\\) after 0: a message was deleted`));
        t.is(server.position.received, 1, 'the counter did not move');
      }
    });
  }

  test(`${name}: a gap beyond the look-ahead, a tampered, a replayed and a reflected frame are EAUTH`, (t) => {
    const { client, server } = pair();
    const sent = Array.from({ length: DELETION_LOOK_AHEAD + 2 }, (_, i) => unframe(client.seal(Buffer.from(`m${i}`))));
    t.is(refusal(() => server.receive(sent[DELETION_LOOK_AHEAD + 1]!)).code, 'EAUTH', 'a gap of look-ahead + 1');
    const tampered = sent[0]!.slice();
    tampered[tampered.length - 1]! ^= 1;
    t.is(refusal(() => server.receive(tampered)).code, 'EAUTH', 'tampered');
    t.is(refusal(() => server.receive(tampered.subarray(0, 17))).code, 'EAUTH', 'truncated to the overhead');
    t.is(Buffer.from(server.receive(sent[0]!)!).toString(), 'm0');
    t.is(refusal(() => server.receive(sent[0]!)).code, 'EAUTH', 'replayed');
    t.is(refusal(() => client.receive(sent[1]!)).code, 'EAUTH', 'reflected to its sender');
    t.is(Buffer.from(server.receive(sent[1]!)!).toString(), 'm1', 'the frames in order still open');
  });

  test(`${name}: READY and REJECT after the handshake are EPROTO (they belong only to the handshake), and so is an unknown type (PING is a session message since part 2)`, (t) => {
    const { client, server } = pair();
    for (const control of [encodeReady(backend.randomBytes(32), 1000), encodeReject('busy', 10)]) {
      const error = refusal(() => client.receive(unframe(server.sealControl(control))));
      t.is(error.code, 'EPROTO');
      t.regex(error.message, control[0] === MessageType.READY ? /a READY after the handshake/ : /a REJECT after the handshake/);
    }
    t.is(refusal(() => client.receive(unframe(server.sealControl(new Uint8Array([0x7f]))))).code, 'EPROTO', 'an unknown type');
    t.is(client.position.received, 3, 'each opened (authentic) before it was refused');
  });

  test(`${name}: the end of the counter space: the last counter is sent and opened, the next is ECLOSED to send and EPROTO to receive`, (t) => {
    const secret = backend.randomBytes(32);
    const last = 2;
    const sender = new Direction(secret.slice(), V2_PREFIX_CLIENT_MESSAGE, last);
    const receiver = new Direction(secret.slice(), V2_PREFIX_CLIENT_MESSAGE, last);
    for (let counter = 0; counter <= last; counter++) {
      t.false(sender.exhausted, `counter ${counter} is still ours to use`);
      const plain = new Uint8Array([MessageType.DATA, counter]);
      t.deepEqual(receiver.open(sender.sealPayload(plain, backend), backend), plain);
    }
    t.true(sender.exhausted);
    t.is(refusal(() => sender.sealPayload(new Uint8Array([MessageType.DATA]), backend)).code, 'ECLOSED');
    t.is(refusal(() => receiver.open(new Uint8Array(17), backend)).code, 'EPROTO');
    // A deletion is looked for only up to the receiver's last counter (a sender with more room is
    // made up for the test): at counter 1 of 2, a frame at counter 2 is a skip of 1, one at 3 is no skip.
    const roomy = new Direction(secret.slice(), V2_PREFIX_SERVER_MESSAGE, 10);
    const bounded = new Direction(secret.slice(), V2_PREFIX_SERVER_MESSAGE, last);
    const frames = Array.from({ length: 4 }, () => roomy.sealPayload(new Uint8Array([MessageType.DATA]), backend));
    t.not(bounded.open(frames[0]!, backend), null);
    t.is(bounded.framesSkippedBy(frames[2]!, backend), 1, 'counter 2: within the space');
    t.is(bounded.framesSkippedBy(frames[3]!, backend), 0, 'counter 3: beyond the space, not sought');
    t.is(bounded.counter, 1, 'looking did not move the counter');
    const session = new SessionV2(backend, { send: sender, receive: receiver }, LIMITS);
    t.true(session.exhausted);
    t.is(refusal(() => session.seal(new Uint8Array(1))).code, 'ECLOSED', 'a session whose counter is used up sends nothing');
  });

  test(`${name}: a message longer than the peer announced is ETOOBIG and uses no counter`, (t) => {
    const c2s = backend.randomBytes(32);
    const s2c = backend.randomBytes(32);
    const small = { peerMaxMessageBytes: 100, ourMaxMessageBytes: 1 << 20 };
    const client = new SessionV2(backend, { send: Direction.clientToServer(c2s.slice()), receive: Direction.serverToClient(s2c.slice()) }, small);
    const server = new SessionV2(backend, { send: Direction.serverToClient(s2c.slice()), receive: Direction.clientToServer(c2s.slice()) }, LIMITS);
    t.is(client.maxSendBytes, 100);
    t.is(refusal(() => client.seal(new Uint8Array(101))).code, 'ETOOBIG');
    t.is(client.position.sent, 0);
    const exact = backend.randomBytes(100);
    t.deepEqual(server.receive(unframe(client.seal(exact))), exact, 'exactly the limit goes');
  });

  test(`${name}: after a key update a deleted frame is still named (new epoch, same counter); a deleted KEY_UPDATE is EAUTH`, (t) => {
    const { client, server } = pair();
    const update = unframe(client.sealKeyUpdate());
    const after = [unframe(client.seal(Buffer.from('a'))), unframe(client.seal(Buffer.from('b')))];
    t.is(server.receive(update), null);
    t.is(server.position.receiveEpoch, 1);
    const error = refusal(() => server.receive(after[1]!));
    t.is(error.code, 'EPROTO');
    t.regex(error.message, /skips 1 message\(s\) after 0/);

    const other = pair();
    other.client.sealKeyUpdate(); // deleted on the way
    const underNewKey = unframe(other.client.seal(Buffer.from('x')));
    t.is(refusal(() => other.server.receive(underNewKey)).code, 'EAUTH', 'the old key opens nothing of the new epoch');
  });
}
