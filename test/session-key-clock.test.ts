/**
 * v2 key update on time for a quiet connection (issue 16): the time threshold (`rekeyAfter.ms`)
 * is not only checked before a send; a connection that sends nothing still retires its sending
 * key when the epoch's time is up (a KEY_UPDATE alone), so its old traffic gets forward secrecy
 * on time. Real loopback connections, real workers, through the frame-aware proxy; the clock
 * never keeps a process alive and stops at CLOSE.
 */
import test from 'ava';
import { connect } from '../lib/index.js';
import type { ConnectOptions, CurvetunSocket, Listener } from '../lib/index.js';
import { V2_MESSAGE_OVERHEAD } from '../lib/protocol/v2/index.js';
import { bytes, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';
import { runUnrefChild } from './helpers/unref-child.js';

const LONG = 120_000; // only stops a hung test
/** A body-less control frame's payload on the wire: box(type): END or KEY_UPDATE (PING is 8 bytes more). */
const EMPTY_CONTROL_PAYLOAD = V2_MESSAGE_OVERHEAD;

type Position = { sent: number; received: number; sendEpoch: number; receiveEpoch: number };
const positionOf = (socket: CurvetunSocket) => (socket as unknown as { session: { position: Position } }).session.position;

async function pairVia(world: World, listener: Listener, port: number, options: ConnectOptions = {}) {
  const accepted = listener.accept({ timeout: LONG });
  accepted.catch(() => undefined);
  const client = await connect('127.0.0.1', port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: LONG, ...options });
  return { client, server: await accepted };
}

/** Poll `done` every 50 ms until it holds; fails after `ms` (a hung test, never a timing check). */
async function until(done: () => boolean, what: string, ms = LONG): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function exchange(t: { is: (a: unknown, b: unknown, m?: string) => void; deepEqual: (a: unknown, b: unknown, m?: string) => void }, a: CurvetunSocket, b: CurvetunSocket, seed: number) {
  for (const size of [0, 5, 70_000]) {
    const m = bytes(size, seed + size);
    await a.send(m);
    t.deepEqual(await b.recv({ timeout: LONG }), m, `${size} bytes`);
    const back = bytes(size, seed + size + 1);
    await b.send(back);
    t.deepEqual(await a.recv({ timeout: LONG }), back, `${size} bytes back`);
  }
}

test.serial('a quiet connection updates its sending keys when their time is up: a KEY_UPDATE each way with no application send, messages before and after byte-exact', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen({ rekeyAfter: { ms: 400 } });
  const proxy = await startProxy(listener.address().port);
  t.teardown(() => proxy.close());
  const { client, server } = await pairVia(world, listener, proxy.port, { rekeyAfter: { ms: 300 } });
  t.teardown(() => client.close());
  await exchange(t, client, server, 10);

  const [c0, s0] = [positionOf(client), positionOf(server)];
  const frames = proxy.captured[0]!;
  const [up0, down0] = [frames.toServer.length, frames.toClient.length];
  const [read0, serverRead0] = [client.bytesRead, server.bytesRead];
  // Now nobody sends: each side's key clock must move its epoch on by itself, and the peer follow.
  await until(() => positionOf(server).receiveEpoch >= c0.sendEpoch + 2 && positionOf(client).receiveEpoch >= s0.sendEpoch + 2, 'two quiet key updates each way');
  t.true(positionOf(client).sendEpoch >= c0.sendEpoch + 2, 'the client moved its sending key');
  t.true(positionOf(server).sendEpoch >= s0.sendEpoch + 2, 'the server moved its sending key');
  // Only key updates crossed the proxy meanwhile: body-less frames, nothing delivered.
  const quietUp = frames.toServer.slice(up0);
  const quietDown = frames.toClient.slice(down0);
  t.true(quietUp.length >= 2 && quietDown.length >= 2, `${quietUp.length} frames up, ${quietDown.length} down`);
  t.true([...quietUp, ...quietDown].every((p) => p.length === EMPTY_CONTROL_PAYLOAD), 'each quiet frame is a body-less control frame');
  // The clocks keep running: wait for a moment when nothing is in flight before comparing counts.
  await until(() => positionOf(server).received - s0.received === frames.toServer.length - up0, 'the server to open every quiet frame, one counter each');
  t.is(client.bytesRead, read0);
  t.is(server.bytesRead, serverRead0);
  t.is(client.inboxBytes + server.inboxBytes, 0, 'no message was delivered');

  // The new keys carry messages as the old ones did, and the counters ran on across the epochs.
  await exchange(t, client, server, 20);
  await until(() => {
    const [c, s] = [positionOf(client), positionOf(server)];
    return s.receiveEpoch === c.sendEpoch && c.receiveEpoch === s.sendEpoch && s.received === c.sent && c.received === s.sent;
  }, 'both sides to agree on epochs and counters');
});

test.serial('after our END the key clock still runs (KEY_UPDATE is allowed after END); after CLOSE nothing is sent', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const proxy = await startProxy(listener.address().port);
  t.teardown(() => proxy.close());
  const { client, server } = await pairVia(world, listener, proxy.port, { rekeyAfter: { ms: 250 } });
  t.teardown(() => server.close());
  await client.send('last');
  t.is(Buffer.from(await server.recv({ timeout: LONG })).toString(), 'last');
  await client.end();
  const ended = positionOf(server).receiveEpoch;
  await until(() => positionOf(server).receiveEpoch >= ended + 1, 'a key update after END');
  t.false(client.closed, 'the client still reads');
  await server.send('reply');
  t.is(Buffer.from(await client.recv({ timeout: LONG })).toString(), 'reply');

  await client.close();
  const { sent } = positionOf(client);
  const frames = proxy.captured[0]!.toServer.length;
  // Absence can only be checked by waiting: well past several periods, the session sealed nothing more.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.is(positionOf(client).sent, sent, 'no frame sealed after CLOSE');
  t.is(proxy.captured[0]!.toServer.length, frames);
});

test.serial('the key clock never keeps a process alive: a client that connects with rekeyAfter.ms and unrefs its socket exits by itself', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen({ acceptAnyClient: true });
  const child = runUnrefChild(t, world.dir, listener, 'unref', 200);
  const server = await listener.accept({ timeout: 240_000 });
  t.teardown(() => server.close());
  t.deepEqual(await within(child.exited, 280_000, 'the child exiting'), { code: 0, signal: null }, child.err());
  t.is(child.out(), 'connected\n');
});
