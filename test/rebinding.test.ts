/**
 * Client `allowedAddresses` against DNS rebinding (issue 12, item 2): connect() resolves the name
 * once, checks exactly those addresses, dials exactly those and never resolves again. The `lookup`
 * option (net.connect's signature) answers differently on its second call, and two real curvetun
 * listeners on the same port of two loopback addresses tell which address was actually dialled.
 */
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CurvetunError, connect, listen } from '../lib/index.js';
import type { Listener } from '../lib/index.js';
import { makeWorld } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

const ALLOWED = '127.0.0.2';
const FORBIDDEN = '127.0.0.3';
const NAME = 'service.rebind.invalid';

/** One curvetun listener on 127.0.0.2 and one on 127.0.0.3, same port, same server key. */
async function twoListeners(t: ExecutionContext): Promise<{ port: number; on: Record<string, Listener> }> {
  for (let attempt = 0; ; attempt++) {
    const first = await listen(0, { host: ALLOWED, vault: world.serverVault, registry: world.registry });
    const port = first.address().port;
    try {
      const second = await listen(port, { host: FORBIDDEN, vault: world.serverVault, registry: world.registry });
      t.teardown(() => Promise.all([first.close(), second.close()]).then(() => undefined));
      return { port, on: { [ALLOWED]: first, [FORBIDDEN]: second } };
    } catch (error) {
      await first.close();
      if (attempt >= 5) throw error; // that port was taken on 127.0.0.3: try another
    }
  }
}

/** A lookup that gives `answers[0]` on its first call, `answers[1]` on its second, and so on. */
function changingLookup(...answers: string[][]): { lookup: LookupFunction; calls: string[] } {
  const calls: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    calls.push(hostname);
    const addresses = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    const list: LookupAddress[] = addresses.map((address) => ({ address, family: 4 }));
    setImmediate(() => (options.all ? callback(null, list) : callback(null, list[0]!.address, 4)));
  };
  return { lookup, calls };
}

test.serial('a lookup that answers an allowed address first and a forbidden one next: the allowed one is dialled, the name is resolved once', async (t) => {
  const { port, on } = await twoListeners(t);
  const { lookup, calls } = changingLookup([ALLOWED], [FORBIDDEN]);
  const accepted = on[ALLOWED]!.accept({ timeout: 60_000 });
  const client = await connect(NAME, port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, allowedAddresses: [ALLOWED], lookup, timeout: 60_000 });
  t.teardown(() => client.close());
  const server = await accepted;
  t.teardown(() => server.close());
  await client.send('which one?');
  t.is(Buffer.from(await server.recv({ timeout: 60_000 })).toString(), 'which one?');
  t.deepEqual(calls, [NAME], 'resolved exactly once');
  t.is(on[ALLOWED]!.stats.accepted, 1);
  t.is(on[FORBIDDEN]!.stats.accepted + on[FORBIDDEN]!.stats.handshakeFailures + on[FORBIDDEN]!.stats.pendingHandshakes, 0, 'the forbidden address saw nothing');
});

test.serial('a lookup that answers a forbidden address first and an allowed one next: EDENIED, and nothing is dialled', async (t) => {
  const { port, on } = await twoListeners(t);
  const { lookup, calls } = changingLookup([FORBIDDEN], [ALLOWED]);
  const error = await t.throwsAsync(
    connect(NAME, port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, allowedAddresses: [ALLOWED], lookup, timeout: 60_000 }),
  );
  t.true(error instanceof CurvetunError);
  t.is((error as CurvetunError).code, 'EDENIED');
  t.deepEqual(calls, [NAME], 'resolved exactly once');
  // Both listeners stay idle: give a stray connection time to show up, then look.
  await new Promise((r) => setTimeout(r, 300));
  for (const address of [ALLOWED, FORBIDDEN]) {
    const s = on[address]!.stats;
    t.is(s.accepted + s.handshakeFailures + s.pendingHandshakes, 0, `${address} saw nothing`);
  }
});

test.serial('one forbidden address among the answers refuses the whole name (EDENIED)', async (t) => {
  const { port } = await twoListeners(t);
  const { lookup, calls } = changingLookup([ALLOWED, FORBIDDEN]);
  const error = await t.throwsAsync(
    connect(NAME, port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, allowedAddresses: [ALLOWED], lookup, timeout: 60_000 }),
  );
  t.is((error as CurvetunError).code, 'EDENIED');
  t.is(calls.length, 1);
});

test.serial('the checked addresses are dialled in order: a refused first address moves on to the next, without a second lookup', async (t) => {
  const { port, on } = await twoListeners(t);
  // Nothing listens on 127.0.0.4 at that port: the attempt is refused and the next address is tried.
  const { lookup, calls } = changingLookup(['127.0.0.4', ALLOWED], [FORBIDDEN]);
  const accepted = on[ALLOWED]!.accept({ timeout: 60_000 });
  const client = await connect(NAME, port, { vault: world.clientVault, serverKey: world.serverVault.publicKey, allowedAddresses: ['127.0.0.0/8'], lookup, timeout: 60_000 });
  t.teardown(() => client.close());
  t.teardown(async () => (await accepted).close());
  await accepted;
  t.is(calls.length, 1);
  t.is(on[FORBIDDEN]!.stats.accepted, 0);
});

test.serial("without serverKey, the registry is asked with the addresses that are dialled, not with a lookup of its own", async (t) => {
  const { port, on } = await twoListeners(t);
  // The registry knows the server by its address only; the name does not resolve anywhere but
  // through our lookup, so the key can only come from the addresses connect() resolved.
  const registry = await world.newRegistry('client-known-hosts');
  await registry.add({ who: ALLOWED, key: world.serverVault.publicKey });
  await registry.add({ who: FORBIDDEN, key: world.clientVault.publicKey }); // a wrong key for .3
  const { lookup, calls } = changingLookup([ALLOWED], [FORBIDDEN]);
  const accepted = on[ALLOWED]!.accept({ timeout: 60_000 });
  const client = await connect(NAME, port, { vault: world.clientVault, registry, lookup, timeout: 60_000 });
  t.teardown(() => client.close());
  t.teardown(async () => (await accepted).close());
  t.deepEqual(client.peerKey, world.serverVault.publicKey);
  await accepted;
  t.is(calls.length, 1);
});

test('a lookup that fails or answers no IP address: the connect fails typed, with the resolver error as cause', async (t) => {
  const failing: LookupFunction = (_host, _options, callback) => {
    const error = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nowhere.invalid' });
    setImmediate(() => callback(error, []));
  };
  const error = (await t.throwsAsync(connect('nowhere.invalid', 1, { vault: world.clientVault, serverKey: world.serverVault.publicKey, lookup: failing }))) as CurvetunError;
  t.true(error instanceof CurvetunError);
  t.is((error.cause as NodeJS.ErrnoException).code, 'ENOTFOUND');
  const junk: LookupFunction = (_host, _options, callback) => setImmediate(() => callback(null, [{ address: 'not-an-ip', family: 4 }]));
  t.true((await t.throwsAsync(connect('junk.invalid', 1, { vault: world.clientVault, serverKey: world.serverVault.publicKey, lookup: junk }))) instanceof CurvetunError);
});
