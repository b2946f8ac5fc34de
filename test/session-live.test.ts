/**
 * v2 liveness, large messages and key updates over real sockets (issue 16): a peer that goes
 * silent is closed ETIMEDOUT within idleTimeout (v1 too), a live but quiet one answers our PINGs
 * and stays; messages beyond one frame arrive whole, a peer sending past our maxMessageBytes is
 * closed ETOOBIG; and a soak of 100 connections crossing several key updates echoes byte-exact.
 */
import { once } from 'node:events';
import test from 'ava';
import { connect } from '../lib/index.js';
import type { ConnectOptions, CurvetunSocket, Listener } from '../lib/index.js';
import { bytes, echoServer, failure, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';

const LONG = 120_000; // only stops a hung test

async function pairVia(world: World, listener: Listener, port: number, options: ConnectOptions = {}) {
  const accepted = listener.accept({ timeout: LONG });
  accepted.catch(() => undefined);
  const client = await connect('127.0.0.1', port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: LONG, ...options });
  return { client, server: await accepted };
}

type Position = { sent: number; received: number; sendEpoch: number; receiveEpoch: number };
const positionOf = (socket: CurvetunSocket) => (socket as unknown as { session: { position: Position } }).session.position;

test.serial('a peer that goes silent (a proxy swallows everything after READY) is closed ETIMEDOUT within idleTimeout', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const proxy = await startProxy(listener.address().port, (_p, ctx) => (ctx.direction === 'toClient' && ctx.index >= 2 ? [] : undefined));
  t.teardown(() => proxy.close());
  const { client, server } = await pairVia(world, listener, proxy.port, { idleTimeout: 1500 });
  server.on('error', () => undefined);
  const [reason] = await within(once(client, 'close'), LONG, 'the idle close');
  t.is(reason.code, 'ETIMEDOUT');
  t.regex(reason.message, /idleTimeout 1500 ms/);
  t.is((await failure(client.recv())).code, 'ECLOSED');
});

test.serial('v1: idleTimeout closes a connection whose peer sends nothing (v1 has no PING)', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen({ idleTimeout: 1000 });
  const { client, server } = await pairVia(world, listener, listener.address().port, { protocol: 'v1' });
  t.is(server.protocol, 'v1');
  client.on('error', () => undefined);
  const [reason] = await within(once(server, 'close'), LONG, 'the idle close');
  t.is(reason.code, 'ETIMEDOUT');
});

test.serial('a live but quiet v2 peer answers our PINGs: the connection outlives several idleTimeouts and still carries messages', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const { client, server } = await pairVia(world, listener, listener.address().port, { idleTimeout: 6000, pingInterval: 300 });
  const quiet = new Promise((resolve) => setTimeout(resolve, 14_000));
  await quiet;
  t.false(client.closed, `closed: ${client.closeReason?.message}`);
  await server.send('still here');
  t.is(Buffer.from(await client.recv({ timeout: LONG })).toString(), 'still here');
  t.true(positionOf(client).received > 2, 'PONGs arrived');
  await client.close();
});

test.serial('large messages: 70 kB and 3 MB arrive whole both ways; past the peer limit send() is ETOOBIG locally; a peer that sends past ours is closed ETOOBIG', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  void echoServer(listener);
  const client = await connect('127.0.0.1', listener.address().port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: LONG });
  for (const size of [70_000, 3_000_000]) {
    const m = bytes(size, size % 251);
    await client.send(m);
    t.deepEqual(await client.recv({ timeout: LONG }), m, `${size} bytes`);
  }
  t.is((await failure(client.send(new Uint8Array(16 * 1024 * 1024 + 1)))).code, 'ETOOBIG');
  t.false(client.closed, 'a refused send leaves the connection open');
  await client.close();

  const small = await world.listen({ maxMessageBytes: 100_000 });
  const { client: liar, server } = await pairVia(world, small, small.address().port);
  t.is((await failure(liar.send(new Uint8Array(100_001)))).code, 'ETOOBIG');
  liar.on('error', () => undefined);
  // Make the client ignore what the server announced: the server refuses at the first fragment.
  (liar as unknown as { session: { maxSendBytes: number } }).session.maxSendBytes = 1 << 24;
  await liar.send(new Uint8Array(200_000)).catch(() => undefined);
  const [reason] = await within(once(server, 'close'), LONG, 'the server closing');
  t.is(reason.code, 'ETOOBIG');
});

test.serial('soak: 100 v2 connections crossing several key updates each echo byte-exact (fragments too)', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen({ rekeyAfter: { messages: 4 }, handshakeTimeout: LONG });
  void echoServer(listener);
  const one = async (n: number) => {
    const client = await connect('127.0.0.1', listener.address().port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: LONG, rekeyAfter: { messages: 5 } });
    const sizes = [0, 1, 500, 3000, 70_000, 20, 65_518, 65_519, 7, 4096, 100, 9, 200_000, 33, 1, 12, 8000, 2, 64, 5];
    for (const [i, size] of sizes.entries()) await client.send(bytes(size, n * 100 + i));
    for (const [i, size] of sizes.entries()) {
      const got = await client.recv({ timeout: LONG });
      if (Buffer.compare(got, bytes(size, n * 100 + i)) !== 0) throw new Error(`connection ${n}, message ${i}: not the bytes sent`);
    }
    const { sendEpoch, receiveEpoch } = positionOf(client);
    await client.close();
    return { sendEpoch, receiveEpoch };
  };
  const results: { sendEpoch: number; receiveEpoch: number }[] = [];
  for (let batch = 0; batch < 20; batch++) {
    results.push(...(await within(Promise.all(Array.from({ length: 5 }, (_, i) => one(batch * 5 + i))), LONG * 2, `batch ${batch}`)));
  }
  t.is(results.length, 100);
  for (const r of results) {
    t.true(r.sendEpoch >= 3, `client epochs ${r.sendEpoch}`);
    t.true(r.receiveEpoch >= 3, `server epochs ${r.receiveEpoch}`);
  }
});
