/**
 * Many clients at once against one server, with real workers and crypto on 127.0.0.1.
 */
import test from 'ava';
import { connect } from '../lib/index.js';
import type { Listener } from '../lib/index.js';
import { bytes, echoServer, makeWorld } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});


test('200 concurrent clients each echo 100 messages', async (t) => {
  t.timeout(120_000);
  // Every client comes from 127.0.0.1: lift the per-address handshake cap (default 64) above 200.
  const listener = await world.listen({ maxPendingPerAddress: 256 });
  void echoServer(listener);
  const port = listener.address().port;
  const clients = await Promise.all(
    Array.from({ length: 200 }, () =>
      connect('127.0.0.1', port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 60_000 }),
    ),
  );
  t.teardown(() => Promise.all(clients.map((c) => c.close())).then(() => undefined));
  const results = await Promise.all(
    clients.map(async (client, n) => {
      for (let i = 0; i < 100; i++) {
        const message = bytes(1 + ((n * 100 + i) % 300), n * 1000 + i);
        await client.send(message);
        const echoed = await client.recv({ timeout: 30_000 });
        if (!Buffer.from(echoed).equals(Buffer.from(message))) return false;
      }
      return true;
    }),
  );
  t.is(results.filter(Boolean).length, 200);
});

