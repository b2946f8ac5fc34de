/**
 * v2 failure closes say why (issue 16): a connection we close for a failure — the peer broke the
 * protocol (EPROTO), sent past our limit (ETOOBIG), sent a frame that did not authenticate
 * (EAUTH), its key was revoked by a registry reload, or nothing arrived within idleTimeout — sends
 * a CLOSE with curvetun's failure code before it ends TCP, and the peer reports that failure (the
 * same error code, `peerCode` / `peerReason` from the CLOSE), never a truncation and never a
 * clean end. Real loopback connections, real workers; the hostile peers are curvetun clients
 * whose session is driven past the rules by the test.
 */
import { once } from 'node:events';
import test from 'ava';
import { connect } from '../lib/index.js';
import type { ConnectOptions, CurvetunError, CurvetunSocket, Listener } from '../lib/index.js';
import { CloseCode, encodeClose, encodeControl } from '../lib/protocol/v2/index.js';
import { failure, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';

const LONG = 120_000; // only stops a hung test

type PeerFailure = CurvetunError & { peerCode?: number; peerReason?: string };

async function pairVia(world: World, listener: Listener, port: number, options: ConnectOptions = {}) {
  const accepted = listener.accept({ timeout: LONG });
  accepted.catch(() => undefined);
  const client = await connect('127.0.0.1', port, { serverKey: world.serverVault.publicKey, vault: world.clientVault, timeout: LONG, ...options });
  const server = await accepted;
  client.on('error', () => undefined);
  server.on('error', () => undefined);
  return { client, server };
}

const closeOf = (socket: CurvetunSocket) => within(once(socket, 'close') as Promise<[PeerFailure]>, LONG, 'the close').then(([reason]) => reason);

/** The peer's side of a failure close: its waiting recv and its close reason name our failure. */
async function toldWhy(t: { is(a: unknown, b: unknown, m?: string): void; not(a: unknown, b: unknown, m?: string): void }, waiting: Promise<unknown>, socket: CurvetunSocket, code: string, closeCode: number) {
  const recvError = (await failure(waiting)) as PeerFailure;
  const reason = socket.closed ? (socket.closeReason as PeerFailure) : await closeOf(socket);
  for (const e of [recvError, reason]) {
    t.not(e.code, 'ETRUNCATED', `${e.code}: ${e.message}`);
    t.is(e.code, code, e.message);
    t.is(e.peerCode, closeCode, e.message);
  }
  return reason;
}

test.serial('ETOOBIG: a peer that sends past our maxMessageBytes is closed ETOOBIG, and its side is told so by a CLOSE (code 2), not a truncation', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen({ maxMessageBytes: 100_000 });
  const { client: liar, server } = await pairVia(world, listener, listener.address().port);
  const waiting = liar.recv({ timeout: LONG });
  // The liar ignores what the server announced: the server refuses at the first fragment.
  (liar as unknown as { session: { maxSendBytes: number } }).session.maxSendBytes = 1 << 24;
  await liar.send(new Uint8Array(200_000)).catch(() => undefined);
  t.is((await closeOf(server)).code, 'ETOOBIG');
  const reason = await toldWhy(t, waiting, liar, 'ETOOBIG', CloseCode.tooBig);
  t.regex(reason.message, /larger than it accepts/);
  t.regex(reason.peerReason!, /100000/);
});

test.serial('EPROTO: a peer that breaks a rule (a PONG answering no PING) is told so (code 1, the rule in the reason); its iterator throws, no clean end', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const { client: rogue, server } = await pairVia(world, listener, listener.address().port);
  const iterated = (async () => {
    for await (const _ of rogue) t.fail('no message was sent');
  })();
  const inside = rogue as unknown as { session: { sealControl(p: Uint8Array): Uint8Array }; queueFrameAwaited(f: Uint8Array): Promise<void> };
  await inside.queueFrameAwaited(inside.session.sealControl(encodeControl('pong', new Uint8Array(8))));
  t.is((await closeOf(server)).code, 'EPROTO');
  const thrown = (await failure(iterated)) as PeerFailure;
  t.is(thrown.code, 'EPROTO', thrown.message);
  t.is(thrown.peerCode, CloseCode.protocolViolation);
  t.regex(thrown.peerReason!, /a PONG that answers no PING/);
  t.regex(thrown.message, /broke the protocol/);
});

test.serial('EAUTH: a frame changed on the way closes the receiver EAUTH, and the sender is told (code 5) instead of seeing a truncation', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  // Flip one bit of the client's first message frame (index 2: after Hello and Initiate).
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction !== 'toServer' || ctx.index !== 2) return;
    const changed = payload.slice();
    changed[changed.length - 1]! ^= 1;
    return [changed];
  });
  t.teardown(() => proxy.close());
  const { client, server } = await pairVia(world, listener, proxy.port);
  const waiting = client.recv({ timeout: LONG });
  await client.send('changed on the way');
  t.is((await closeOf(server)).code, 'EAUTH');
  const reason = await toldWhy(t, waiting, client, 'EAUTH', CloseCode.notAuthentic);
  t.regex(reason.message, /did not authenticate/);
});

test.serial('revoked: a client whose registry line is removed (reload, closeRevoked) is told its key is no longer allowed (EAUTH, code 3), not ETRUNCATED', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const { client, server } = await pairVia(world, listener, listener.address().port);
  await client.send('hello');
  t.is(Buffer.from(await server.recv({ timeout: LONG })).toString(), 'hello');
  const waiting = client.recv({ timeout: LONG });
  t.is(await world.registry.remove('127.0.0.1', world.clientVault.publicKey), 1);
  const serverReason = await closeOf(server);
  t.is(serverReason.code, 'EAUTH');
  t.regex(serverReason.message, /closed on registry reload/);
  const reason = await toldWhy(t, waiting, client, 'EAUTH', CloseCode.revoked);
  t.is(reason.peerReason, 'this key is no longer allowed');
  t.regex(reason.message, /no longer allows our key/);
  t.false(reason.peerReason!.includes('127.0.0.1'), "the registry's words stay on the server");
});

test.serial('idleTimeout: the side that heard nothing closes ETIMEDOUT and the silent side is told so (ETIMEDOUT, code 4)', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen({ idleTimeout: 1500 });
  // Everything the client sends after its Initiate is swallowed (its PONGs too): the server hears nothing.
  const proxy = await startProxy(listener.address().port, (_p, ctx) => (ctx.direction === 'toServer' && ctx.index >= 2 ? [] : undefined));
  t.teardown(() => proxy.close());
  const { client, server } = await pairVia(world, listener, proxy.port);
  const waiting = client.recv({ timeout: LONG });
  t.is((await closeOf(server)).code, 'ETIMEDOUT');
  const reason = await toldWhy(t, waiting, client, 'ETIMEDOUT', CloseCode.idleTimeout);
  t.regex(reason.peerReason!, /idleTimeout 1500 ms/);
});

test.serial("close(): codes 1–999 are curvetun's own (EINVAL, nothing sent, still open); 0 and 1000 and up reach the peer as a clean close", async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  const { client, server } = await pairVia(world, listener, listener.address().port);
  for (const code of [1, 3, 999]) t.is((await failure(client.close({ code }))).code, 'EINVAL', `code ${code}`);
  await client.send('still open');
  t.is(Buffer.from(await server.recv({ timeout: LONG })).toString(), 'still open');
  await client.close({ code: 1000, reason: 'done' });
  const reason = await closeOf(server);
  t.is(reason.code, 'ECLOSED');
  t.is(reason.peerCode, 1000);
  t.is((await failure(server.recv())).code, 'ECLOSED');
});

test.serial('a failure code this version does not know (6, 999) is still a failure: EPROTO with its peerCode, the iterator throws, no clean end', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const listener = await world.listen();
  for (const code of [6, 999]) {
    const { client: later, server } = await pairVia(world, listener, listener.address().port);
    const iterated = (async () => {
      for await (const _ of server) t.fail('no message was sent');
    })();
    // A later version's client closing for a failure it names with a code we do not know.
    const inside = later as unknown as { session: { sealControl(p: Uint8Array): Uint8Array }; queueFrameAwaited(f: Uint8Array): Promise<void> };
    await inside.queueFrameAwaited(inside.session.sealControl(encodeClose(code, 'a newer failure')));
    const thrown = (await failure(iterated)) as PeerFailure;
    t.is(thrown.code, 'EPROTO', thrown.message);
    t.is(thrown.peerCode, code);
    t.is(thrown.peerReason, 'a newer failure');
    t.regex(thrown.message, /does not name/);
    const reason = await closeOf(server);
    t.is(reason.code, 'EPROTO');
    later.destroy();
  }
});
