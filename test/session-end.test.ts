/**
 * v2's honest end over real sockets (issue 16): END per direction (the peer's recv and iterator
 * finish cleanly, and it can still send), CLOSE with a code and a reason, and a TCP end without
 * either — cut by a man in the middle at a random point — is ETRUNCATED on every waiting and later
 * recv, and an 'error' in stream mode: never a clean end. Forged or replayed END / CLOSE / PING
 * frames do not open (EAUTH); a stripped END is a truncation.
 */
import { once } from 'node:events';
import test from 'ava';
import { connect } from '../lib/index.js';
import type { CurvetunSocket, Listener } from '../lib/index.js';
import { bytes, failure, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';
import type { FrameHook } from './helpers/proxy.js';

const LONG = 60_000; // only stops a hung test: a loaded machine can take seconds

async function pairVia(world: World, listener: Listener, port: number): Promise<{ client: CurvetunSocket; server: CurvetunSocket }> {
  const accepted = listener.accept({ timeout: LONG });
  accepted.catch(() => undefined);
  const client = await connect('127.0.0.1', port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: LONG });
  return { client, server: await accepted };
}

async function pair(world: World) {
  const listener = await world.listen();
  return pairVia(world, listener, listener.address().port);
}

/** Every message until the iterator ends (clean) or throws (returned as the error). */
async function drain(socket: CurvetunSocket): Promise<{ messages: Uint8Array[]; error: unknown }> {
  const messages: Uint8Array[] = [];
  try {
    for await (const m of socket) messages.push(m);
    return { messages, error: null };
  } catch (error) {
    return { messages, error };
  }
}

test('END: the peer reads every message, then its iterator ends cleanly; it still sends back; both ENDs close cleanly', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await pair(world);
  t.is(client.protocol, 'v2');
  for (let i = 0; i < 5; i++) await client.send(bytes(100 + i, i));
  await client.end();
  await t.throwsAsync(client.send('late'), { code: 'ECLOSED' });
  const got = await within(drain(server), LONG, 'the server iterator');
  t.is(got.error, null);
  t.deepEqual(got.messages, [0, 1, 2, 3, 4].map((i) => bytes(100 + i, i)));
  t.false(server.closed, 'a half-closed connection stays open');
  // A later recv answers the end again, cleanly.
  t.is((await failure(server.recv())).code, 'ECLOSED');
  await server.send('reply after your END');
  t.is(Buffer.from(await client.recv({ timeout: LONG })).toString(), 'reply after your END');
  const closed = [once(client, 'close'), once(server, 'close')];
  await server.end();
  const [[clientReason], [serverReason]] = (await within(Promise.all(closed), LONG, 'both closing')) as [[Error & { code: string }], [Error & { code: string }]];
  t.is(clientReason.code, 'ECLOSED');
  t.is(serverReason.code, 'ECLOSED');
  t.regex(clientReason.message, /both sides ended/);
});

test('CLOSE carries its code and reason to the peer (closeReason.peerCode / peerReason), a clean close there', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const { client, server } = await pair(world);
  await client.send('last words');
  const closing = once(server, 'close');
  await client.close({ code: 4001, reason: 'shutting down — bye' });
  const [reason] = await within(closing, LONG, 'the server closing');
  t.is(reason.code, 'ECLOSED');
  t.is(reason.peerCode, 4001);
  t.is(reason.peerReason, 'shutting down — bye');
  t.is(Buffer.from(await server.recv()).toString(), 'last words', 'what came before the CLOSE is still readable');
  const fresh = await pair(world);
  await t.throwsAsync(fresh.client.close({ reason: 'x'.repeat(257) }), { code: 'EINVAL' });
  t.false(fresh.client.closed, 'a refused CLOSE leaves the connection open');
  await fresh.client.close();
});

/** A proxy that cuts the connection (FIN) before toClient frame `at` (0 = Cookie, 1 = READY, 2… messages). */
async function cuttingProxy(port: number, at: number) {
  const hook: FrameHook = (_payload, ctx) => {
    if (ctx.direction === 'toClient' && ctx.index === at) ctx.cut();
  };
  return startProxy(port, hook);
}

test('truncation at random points, message mode: always ETRUNCATED on the waiting and every later recv, never a clean end', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  for (let round = 0; round < 6; round++) {
    const count = 12;
    const at = 2 + Math.floor(Math.random() * count); // before message (at - 2), or before the server's END
    const proxy = await cuttingProxy(listener.address().port, at);
    const { client, server } = await pairVia(world, listener, proxy.port);
    server.on('error', () => undefined);
    for (let i = 0; i < count; i++) await server.send(bytes(50, i));
    await server.end().catch(() => undefined);
    const got = await within(drain(client), LONG, 'the client iterator');
    t.is((got.error as { code?: string })?.code, 'ETRUNCATED', `cut before frame ${at}`);
    t.true(got.messages.length <= at - 2);
    t.is((await failure(client.recv())).code, 'ETRUNCATED');
    t.is(client.closeReason?.code, 'ETRUNCATED');
    await proxy.close();
  }
});

test('truncation at a random point, stream mode: an error ETRUNCATED, never an end', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  for (let round = 0; round < 3; round++) {
    const at = 2 + Math.floor(Math.random() * 8);
    const proxy = await cuttingProxy(listener.address().port, at);
    const { client, server } = await pairVia(world, listener, proxy.port);
    server.on('error', () => undefined);
    const stream = client.stream();
    let ended = false;
    stream.on('end', () => (ended = true));
    stream.resume();
    const errored = once(stream, 'error');
    const out = server.stream();
    out.on('error', () => undefined);
    for (let i = 0; i < 8; i++) out.write(bytes(70_000, i));
    out.end();
    const [error] = await within(errored, LONG, 'the stream error');
    t.is(error.code, 'ETRUNCATED');
    t.false(ended);
    await proxy.close();
  }
});

test('a stripped END (dropped, then TCP ends) is ETRUNCATED; a replayed END or CLOSE and forged END/CLOSE/PING frames are EAUTH', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  // Server → client frames: 0 Cookie, 1 READY, 2 the message, 3 the END (stripped), then FIN.
  const stripping = await startProxy(listener.address().port, (_p, ctx) => {
    if (ctx.direction === 'toClient' && ctx.index === 3) ctx.cut();
  });
  const a = await pairVia(world, listener, stripping.port);
  a.server.on('error', () => undefined);
  await a.server.send('m');
  await a.server.end();
  t.is(Buffer.from(await a.client.recv({ timeout: LONG })).toString(), 'm');
  t.is((await failure(a.client.recv({ timeout: LONG }))).code, 'ETRUNCATED');
  await stripping.close();

  for (const kind of ['replayed END', 'forged END', 'forged CLOSE', 'forged PING', 'replayed CLOSE']) {
    let last: Uint8Array | null = null;
    const proxy = await startProxy(listener.address().port, (payload, ctx) => {
      if (ctx.direction !== 'toClient' || ctx.index < 2) return;
      if (kind.startsWith('replayed') && ctx.index === 2) {
        last = payload; // the server's END (or CLOSE): deliver it twice
        return [payload, payload];
      }
      if (kind.startsWith('forged') && ctx.index === 2) {
        // The right size for the type, random bytes: no key, no counter, no way to open.
        const size = kind === 'forged END' ? 17 : kind === 'forged CLOSE' ? 19 : 25;
        return [bytes(size, size), payload];
      }
    });
    const { client, server } = await pairVia(world, listener, proxy.port);
    server.on('error', () => undefined);
    client.on('error', () => undefined);
    if (kind === 'replayed CLOSE') await server.close({ code: 4001, reason: 'once' });
    else if (kind === 'replayed END') await server.end();
    else await server.send('after the forgery');
    const closed = once(client, 'close');
    const [reason] = await within(closed, LONG, `the client closing (${kind})`);
    if (kind === 'replayed CLOSE') {
      // The first CLOSE closes; the copy arrives after and is never read.
      t.is(reason.code, 'ECLOSED');
      t.is(reason.peerCode, 4001);
    } else {
      t.is(reason.code, 'EAUTH', kind);
    }
    t.truthy(last !== null || kind.startsWith('forged'));
    await proxy.close();
  }
});
