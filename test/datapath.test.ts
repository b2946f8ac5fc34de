/**
 * The batched send path (lib/connection/socket.ts): small frames from every socket of the process
 * are sealed into one shared pool and each tick's frames leave in one write. These tests make
 * sockets interleave inside that pool, roll it over, mix small and large frames, and close in the
 * same tick as a burst of sends — real crypto, real sockets, a real worker vault.
 */
import test from 'ava';
import { connect } from '../lib/index.js';
import type { CurvetunSocket } from '../lib/index.js';
import { bytes, echoServer, makeWorld, within } from './helpers/fixtures.js';

test('sockets sending in the same tick share the pool, yet each gets its own messages back intact and in order', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  void echoServer(listener);
  const sockets: CurvetunSocket[] = [];
  for (let i = 0; i < 3; i++) {
    sockets.push(await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey }));
  }
  // Sizes straddle the small-frame limit and add up to several pools, so the pool rolls over
  // while three sockets alternate inside it, all in one synchronous burst.
  const sizes = [0, 1, 63, 64, 1000, 4000, 4050, 4100, 9000, 30_000, 65_503];
  const sent: Uint8Array[][] = sockets.map(() => []);
  const sends: Promise<void>[] = [];
  for (let round = 0; round < 6; round++) {
    for (const [k, socket] of sockets.entries()) {
      const message = bytes(sizes[(round * 3 + k) % sizes.length]!, 1 + round * 10 + k);
      sent[k]!.push(message);
      sends.push(socket.send(message));
    }
  }
  await within(Promise.all(sends), 10_000, 'the sends');
  for (const [k, socket] of sockets.entries()) {
    for (const [i, expected] of sent[k]!.entries()) {
      const got = await socket.recv({ timeout: 10_000 });
      t.deepEqual(Buffer.from(got), Buffer.from(expected), `socket ${k}, message ${i}`);
    }
    await socket.close();
  }
});

test('sends of one tick share a promise, which settles once they are written; close() in the same tick still delivers them', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const socket = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey });
  const peer = await listener.accept({ timeout: 10_000 });
  const first = socket.send('a');
  const second = socket.send('b');
  t.is(first, second, 'one promise per tick');
  await first;
  const third = socket.send('c');
  t.not(third, first, 'a new tick, a new batch');
  const closing = socket.close();
  await third;
  await closing;
  const got: string[] = [];
  for await (const message of peer) got.push(Buffer.from(message).toString());
  t.deepEqual(got, ['a', 'b', 'c']);
  await t.throwsAsync(socket.send('d'), { code: 'ECLOSED' });
});

test('a burst far beyond the pool size is one batch and reaches the peer whole and in order', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const socket = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey });
  const peer = await listener.accept({ timeout: 10_000 });
  const count = 20_000; // 20 000 × 90-byte frames ≈ 27 pools in one tick
  const sends: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const m = new Uint8Array(8);
    new DataView(m.buffer).setFloat64(0, i);
    sends.push(socket.send(m));
  }
  t.is(new Set(sends).size, 1, 'the whole burst is one batch');
  await within(Promise.all(sends), 20_000, 'the burst');
  for (let i = 0; i < count; i++) {
    const m = await peer.recv({ timeout: 10_000 });
    if (new DataView(m.buffer, m.byteOffset, 8).getFloat64(0) !== i) return t.fail(`message ${i} out of order or damaged`);
  }
  t.pass();
  await socket.close();
});
