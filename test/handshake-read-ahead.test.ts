/**
 * What a v1 client sends right behind its Vouch (lib/connection/handshake-feed.ts): frames that
 * arrive while the handshake runs are held (at most a few, then the server stops reading TCP) and
 * become the connection's first messages, in order, none lost, once the handshake completes. A
 * real listener on 127.0.0.1, the real client handshake over a raw socket (test/helpers/raw.ts).
 */
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { HANDSHAKE_READ_AHEAD_BYTES, HANDSHAKE_READ_AHEAD_FRAMES } from '../lib/limits.js';
import { encodeFrame } from '../lib/protocol/index.js';
import { bytes, makeWorld } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { rawHandshake } from './helpers/raw.js';

const backend = getBackend('tweetnacl');
let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(() => world.dispose());

for (const [name, count, size] of [
  ['a few small messages', 3, 100],
  [`more messages than the read-ahead holds (${HANDSHAKE_READ_AHEAD_FRAMES * 3} frames)`, HANDSHAKE_READ_AHEAD_FRAMES * 3, 200],
  [`more bytes than the read-ahead holds (${(HANDSHAKE_READ_AHEAD_BYTES * 4) / 1024} KiB)`, 4, HANDSHAKE_READ_AHEAD_BYTES],
] as const) {
  test.serial(`v1: ${name} written in one go with the Vouch all arrive as the first messages, in order`, async (t) => {
    const listener = await world.listen({ protocols: ['v1'] });
    const accepted = listener.accept({ timeout: 30_000 });
    const hand = await rawHandshake(listener.address().port, { backend, vault: world.clientVault, serverKey: listener.publicKey, sendVouch: false });
    t.teardown(() => hand.tcp.destroy());
    const messages = Array.from({ length: count }, (_, i) => bytes(size, i + 1));
    // The Vouch and every message in one write: they reach the server before its handshake ends.
    hand.tcp.write(Buffer.concat([encodeFrame(hand.vouch), ...messages.map((m) => hand.session.seal(m))]));
    const server = await accepted;
    t.teardown(() => server.close());
    for (const [i, message] of messages.entries()) {
      t.deepEqual(await server.recv({ timeout: 30_000 }), message, `message ${i + 1} of ${count}`);
    }
    // And the connection goes on reading after them.
    const later = bytes(500, 99);
    hand.tcp.write(hand.session.seal(later));
    t.deepEqual(await server.recv({ timeout: 30_000 }), later, 'a message sent after the handshake');
  });
}
