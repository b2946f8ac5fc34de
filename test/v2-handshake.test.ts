/**
 * Protocol v2 end to end: real sockets on 127.0.0.1, real worker vaults, registries and cookie
 * keepers. Every crypto backend against every other, with and without ML-KEM; versions chosen by
 * option or registry marker; READY, authenticated REJECT (EAUTH with the reason, EBUSY with a
 * retry-after) and the silent close (EHANDSHAKE) for what the server will not discuss.
 */
import { join } from 'node:path';
import test from 'ava';
import { availableBackends, getBackend } from '../lib/crypto/index.js';
import { CurvetunError, RejectedError } from '../lib/errors.js';
import { LocalCookieKeeper, connect, listen, openRegistry } from '../lib/index.js';
import type { CurvetunSocket, Listener } from '../lib/index.js';
import { bytes, echoServer, makeWorld } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(() => world.dispose());

async function roundTrip(t: import('ava').ExecutionContext, client: CurvetunSocket, server: CurvetunSocket): Promise<void> {
  const up = bytes(1000, 3);
  await client.send(up);
  t.deepEqual(await server.recv({ timeout: 10_000 }), up);
  const down = bytes(60_000, 4);
  await server.send(down);
  t.deepEqual(await client.recv({ timeout: 10_000 }), down);
}

/** The listener's handshakeError events, taken in order (each `next()` waits for the next one). */
function handshakeErrors(listener: Listener): { next(): Promise<CurvetunError> } {
  const seen: CurvetunError[] = [];
  const waiting: ((e: CurvetunError) => void)[] = [];
  listener.on('handshakeError', (e) => {
    const take = waiting.shift();
    if (take) take(e);
    else seen.push(e);
  });
  return {
    next: () => {
      const ready = seen.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve, reject) => {
        waiting.push(resolve);
        setTimeout(() => reject(new Error('no handshakeError within 30 s')), 30_000).unref();
      });
    },
  };
}

const names = availableBackends();
for (const serverBackend of names) {
  for (const clientBackend of names) {
    for (const postQuantum of [true, false]) {
      test.serial(`v2 [server ${serverBackend}, client ${clientBackend}, ${postQuantum ? 'hybrid' : 'classical'}]: READY, messages both ways, protocol and suite reported on both sides`, async (t) => {
        const listener = await world.listen({ crypto: serverBackend });
        const accepted = listener.accept({ timeout: 10_000 });
        const client = await connect('127.0.0.1', listener.address().port, {
          vault: world.clientVault,
          serverKey: listener.publicKey,
          crypto: clientBackend,
          postQuantum,
          timeout: 10_000,
        });
        const server = await accepted;
        t.teardown(() => Promise.all([client.close(), server.close()]));
        for (const s of [client, server]) {
          t.is(s.protocol, 'v2');
          t.is(s.postQuantum, postQuantum);
        }
        t.deepEqual(server.peerKey, world.clientVault.publicKey);
        t.deepEqual(client.peerKey, listener.publicKey);
        await roundTrip(t, client, server);
      });
    }
  }
}

test.serial('v1 still works on the same port, for a key whose line carries @v1; the client asks for it explicitly', async (t) => {
  const vault = await world.newVault('v1-client');
  await world.registry.add({ who: '127.0.0.1', key: vault.publicKey, v1: true });
  const listener = await world.listen();
  const accepted = listener.accept({ timeout: 10_000 });
  const client = await connect('127.0.0.1', listener.address().port, { vault, serverKey: listener.publicKey, protocol: 'v1', timeout: 10_000 });
  const server = await accepted;
  t.teardown(() => Promise.all([client.close(), server.close()]));
  t.is(client.protocol, 'v1');
  t.is(server.protocol, 'v1');
  t.false(server.postQuantum);
  await roundTrip(t, client, server);
  // The same key over v2 is allowed too (every line allows v2).
  const again = listener.accept({ timeout: 10_000 });
  const v2 = await connect('127.0.0.1', listener.address().port, { vault, serverKey: listener.publicKey, timeout: 10_000 });
  t.is(v2.protocol, 'v2');
  await Promise.all([v2.close(), (await again).close()]);
});

test.serial('a v1 Vouch from a key whose allowing lines are all unmarked is refused (v1 cannot say why: the server closes)', async (t) => {
  const vault = await world.newVault('v2-only');
  await world.registry.add({ who: '127.0.0.1', key: vault.publicKey });
  await world.registry.add({ who: '127.0.0.0/8', key: vault.publicKey });
  const listener = await world.listen();
  const failure = new Promise<CurvetunError>((resolve) => listener.once('handshakeError', (e) => resolve(e)));
  const client = await connect('127.0.0.1', listener.address().port, { vault, serverKey: listener.publicKey, protocol: 'v1', timeout: 10_000 });
  const error = await t.throwsAsync(client.recv({ timeout: 10_000 }), { instanceOf: CurvetunError });
  t.is(error!.code, 'ECLOSED');
  const seen = await failure;
  t.is(seen.code, 'EAUTH');
  t.regex(seen.message, /v2-only/);
  t.is(listener.stats.accepted, 0);
});

test.serial('the client takes its version from the host line: @v1 → v1, unmarked → v2; an explicit protocol wins', async (t) => {
  const listener = await world.listen({ acceptAnyClient: true });
  void echoServer(listener);
  const port = listener.address().port;
  const file = join(world.dir, 'client-hosts');
  const hosts = await openRegistry({ file, create: true });
  t.teardown(() => hosts.close());
  await hosts.add({ who: '127.0.0.1', key: listener.publicKey, v1: true });
  const viaMarker = await connect('127.0.0.1', port, { vault: world.clientVault, registry: hosts, timeout: 10_000 });
  t.is(viaMarker.protocol, 'v1');
  await viaMarker.close();
  const forced = await connect('127.0.0.1', port, { vault: world.clientVault, registry: hosts, protocol: 'v2', timeout: 10_000 });
  t.is(forced.protocol, 'v2');
  await forced.close();
  t.is(await hosts.remove('127.0.0.1'), 1);
  await hosts.add({ who: '127.0.0.1', key: listener.publicKey });
  const unmarked = await connect('127.0.0.1', port, { vault: world.clientVault, registry: hosts, timeout: 10_000 });
  t.is(unmarked.protocol, 'v2');
  await unmarked.send('x');
  t.is(Buffer.from(await unmarked.recv({ timeout: 10_000 })).toString(), 'x');
  await unmarked.close();
  const listed = await hosts.list();
  t.deepEqual(listed.map((e) => e.v1), [false]);
});

test.serial('a key the registry does not allow gets an authenticated REJECT: EAUTH at connect() with error.reason', async (t) => {
  const listener = await world.listen();
  const serverSide = handshakeErrors(listener);
  const stranger = await world.newVault('stranger');
  const error = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: stranger, serverKey: listener.publicKey, timeout: 10_000 }), {
    instanceOf: RejectedError,
  });
  t.is(error!.code, 'EAUTH');
  t.is((error as RejectedError).reason, 'key-not-allowed');
  t.is(listener.stats.accepted, 0);
  // The listener's own record of it: the same verdict, as EAUTH (the REJECT went out).
  const refused = await serverSide.next();
  t.true(refused instanceof RejectedError && refused.reason === 'key-not-allowed', String(refused));
  t.is(refused.code, 'EAUTH');
  t.regex(refused.message, /client key refused/);
  // Known, but from another address only.
  const elsewhere = await world.newVault('elsewhere');
  await world.registry.add({ who: '10.9.8.7', key: elsewhere.publicKey });
  const moved = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: elsewhere, serverKey: listener.publicKey, timeout: 10_000 }), {
    instanceOf: RejectedError,
  });
  t.is((moved as RejectedError).reason, 'address-not-allowed');
});

test.serial('a full server answers REJECT busy: EBUSY with retryAfterMs (accept backlog full, replay guard full)', async (t) => {
  const listener = await world.listen({ backlog: 1 });
  const serverSide = handshakeErrors(listener);
  const first = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 10_000 });
  t.teardown(() => first.close());
  const busy = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 10_000 }), {
    instanceOf: RejectedError,
  });
  t.is(busy!.code, 'EBUSY');
  t.is((busy as RejectedError).reason, 'busy');
  t.true(((busy as RejectedError).retryAfterMs ?? 0) > 0);
  t.is(listener.stats.accepted, 1);
  const backlogFull = await serverSide.next();
  t.true(backlogFull instanceof RejectedError && backlogFull.reason === 'busy', String(backlogFull));
  t.is(backlogFull.code, 'EBUSY', 'the listener records a busy REJECT as EBUSY, not as a refused key');
  t.regex(backlogFull.message, /no room for another connection/);

  const cookies = new LocalCookieKeeper({ guardSize: 1 });
  const guarded = await world.listen({ cookies });
  const guardedSide = handshakeErrors(guarded);
  t.teardown(() => cookies.close());
  void echoServer(guarded);
  const admitted = await connect('127.0.0.1', guarded.address().port, { vault: world.clientVault, serverKey: guarded.publicKey, timeout: 10_000 });
  t.teardown(() => admitted.close());
  const full = await t.throwsAsync(connect('127.0.0.1', guarded.address().port, { vault: world.clientVault, serverKey: guarded.publicKey, timeout: 10_000 }), {
    instanceOf: RejectedError,
  });
  t.is(full!.code, 'EBUSY');
  t.true(((full as RejectedError).retryAfterMs ?? 0) > 0);
  const guardFull = await guardedSide.next();
  t.true(guardFull instanceof RejectedError && guardFull.reason === 'busy' && guardFull.code === 'EBUSY', String(guardFull));
  t.is((await cookies.stats()).refusedGuardFull, 1);
});

test.serial('versions and suites a listener does not speak end in a silent close: EHANDSHAKE, never a fallback', async (t) => {
  const cases: { listen: Parameters<World['listen']>[0]; postQuantum: boolean }[] = [
    { listen: { protocols: ['v1'] }, postQuantum: true },
    { listen: { postQuantum: 'require' }, postQuantum: false },
    { listen: { postQuantum: false }, postQuantum: true },
  ];
  for (const c of cases) {
    const listener: Listener = await world.listen(c.listen);
    const error = await t.throwsAsync(
      connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, postQuantum: c.postQuantum, timeout: 10_000 }),
      { instanceOf: CurvetunError },
    );
    t.is(error!.code, 'EHANDSHAKE', JSON.stringify(c));
    t.false(error instanceof RejectedError);
    t.is(listener.stats.accepted, 0);
  }
  // The ones it does speak still work.
  const strict = await world.listen({ postQuantum: 'require', protocols: ['v2'] });
  const ok = await connect('127.0.0.1', strict.address().port, { vault: world.clientVault, serverKey: strict.publicKey, timeout: 10_000 });
  t.true(ok.postQuantum);
  await ok.close();
});

test.serial('a v2 client refuses a server with another key (EAUTH at the Cookie), and a server key of low order (EAUTH)', async (t) => {
  const listener = await world.listen();
  const wrong = getBackend('tweetnacl').keyPair().publicKey;
  const error = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: wrong, timeout: 10_000 }), {
    instanceOf: CurvetunError,
  });
  // The server cannot open the Hello (it was made for another key), so it closes without a word.
  t.is(error!.code, 'EHANDSHAKE');
  const lowOrder = new Uint8Array(32);
  lowOrder[0] = 1;
  const low = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: lowOrder, timeout: 10_000 }), {
    instanceOf: CurvetunError,
  });
  t.is(low!.code, 'EAUTH');
});

test.serial('listen and connect refuse bad version options with EINVAL', async (t) => {
  for (const options of [{ protocols: [] }, { protocols: ['v3'] }, { postQuantum: 'maybe' }, { maxMessageBytes: 0 }]) {
    const e = await t.throwsAsync(listen(0, { vault: world.serverVault, acceptAnyClient: true, ...(options as object) }), { instanceOf: CurvetunError });
    t.is(e!.code, 'EINVAL', JSON.stringify(options));
  }
  for (const options of [{ protocol: 'v3' }, { postQuantum: 'yes' }, { maxMessageBytes: 2 ** 31 }]) {
    const e = await t.throwsAsync(connect('127.0.0.1', 1, { vault: world.clientVault, serverKey: world.serverVault.publicKey, ...(options as object) }), {
      instanceOf: CurvetunError,
    });
    t.is(e!.code, 'EINVAL', JSON.stringify(options));
  }
});
