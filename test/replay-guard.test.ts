/**
 * The replay guard cannot be filled by peers that have no allowed key (issue 12, item 4): a cookie
 * is remembered only after the whole Initiate verified (vouch opens, client key allowed, vouched EC
 * = this connection's EC). Real listener, real cookie keeper worker with a tiny guard, real client
 * handshake code driving raw TCP (test/helpers/raw.ts) for v1; for v2 real clients, directly or
 * through a frame-aware proxy (test/helpers/proxy.ts) that spoils their Initiate.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startCookieKeeper } from '../lib/cookie/index.js';
import type { WorkerCookieKeeper } from '../lib/cookie/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { RejectedError, connect } from '../lib/index.js';
import type { CurvetunError } from '../lib/index.js';
import { encodeFrame } from '../lib/protocol/index.js';
import { LocalVault } from '../lib/vault/index.js';
import { makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { replay, startProxy } from './helpers/proxy.js';
import { rawHandshake } from './helpers/raw.js';

const backend = getBackend('auto');
const GUARD = 8;

let world: World;
let cookies: WorkerCookieKeeper;
test.before(async () => {
  world = await makeWorld();
  cookies = await startCookieKeeper({ guardSize: GUARD });
});
test.after.always(async () => {
  await cookies?.close();
  await world?.dispose();
});

/**
 * Send `payloads` (a captured Hello and Vouch / Initiate) on a fresh TCP connection, wait for the
 * server to close it, and return the one handshake failure it reported (EAUTH).
 */
async function replayedRefusal(t: ExecutionContext, port: number, payloads: Uint8Array[], failures: CurvetunError[]): Promise<CurvetunError> {
  const before = failures.length;
  const attacker = await replay(port, payloads);
  t.teardown(() => attacker.destroy());
  attacker.on('error', () => undefined);
  attacker.resume(); // read (and drop) the Cookie: a socket nobody reads never sees the server's FIN
  await within(new Promise((resolve) => attacker.once('close', resolve)), 60_000, 'the server closing the replay');
  t.is(failures.length, before + 1);
  t.is(failures.at(-1)!.code, 'EAUTH');
  return failures.at(-1)!;
}

test.serial(`v1: ${10 * GUARD} bogus Initiates with valid cookies from unknown keys leave the guard empty; an allowed client still connects, and its replayed Initiate is still refused`, async (t) => {
  const listener = await world.listen({ cookies });
  const port = listener.address().port;
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const serverKey = listener.publicKey;

  // Half of them vouch correctly for a key the registry does not know; the other half carry the
  // real cookie but an Initiate box that does not authenticate. Each opens its cookie on the server.
  const bogus = async (i: number) => {
    if (i % 2 === 0) {
      const stranger = LocalVault.generate();
      const raw = await rawHandshake(port, { backend, vault: stranger, serverKey, sendVouch: true });
      await within(raw.closed, 60_000, 'the server closing an unknown key');
    } else {
      const raw = await rawHandshake(port, { backend, vault: world.clientVault, serverKey, sendVouch: false });
      const spoiled = new Uint8Array(raw.vouch);
      spoiled[spoiled.length - 1]! ^= 1; // inside the Initiate box, after the (valid) cookie
      raw.tcp.write(encodeFrame(spoiled));
      await within(raw.closed, 60_000, 'the server closing a spoiled Initiate');
    }
  };
  for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: GUARD }, (_, j) => bogus(batch * GUARD + j)));

  t.is(failures.length, 10 * GUARD);
  t.true(failures.every((e) => e.code === 'EAUTH'), 'each refused as EAUTH');
  t.true(failures.some((e) => /client key refused/.test(e.message)));
  t.true(failures.some((e) => /Vouch box did not authenticate/.test(e.message)));
  t.false(failures.some((e) => /replay guard is full/.test(e.message)));
  const afterFlood = await cookies.stats();
  t.is(afterFlood.remembered, 0, 'nothing was remembered for them');
  t.is(afterFlood.refusedGuardFull, 0);
  t.is(afterFlood.opened, 10 * GUARD, 'every bogus Initiate did carry a cookie that opened');

  // An allowed client gets in as if nothing had happened.
  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', port, { protocol: 'v1', vault: world.clientVault, serverKey, timeout: 60_000 });
  t.teardown(() => client.close());
  const server = await accepted;
  t.teardown(() => server.close());
  await client.send('still welcome');
  t.is(Buffer.from(await server.recv({ timeout: 60_000 })).toString(), 'still welcome');

  // An allowed client's Initiate, captured and replayed on a fresh TCP connection, is refused.
  const acceptedRaw = listener.accept({ timeout: 60_000 });
  const honest = await rawHandshake(port, { backend, vault: world.clientVault, serverKey, sendVouch: true });
  (await acceptedRaw).close();
  honest.tcp.destroy();
  const refusal = await replayedRefusal(t, port, [honest.hello, honest.vouch], failures);
  t.regex(refusal.message, /already used: a replayed Vouch/);
  const final = await cookies.stats();
  t.is(final.remembered, 2, 'exactly the two handshakes that passed every check');
  t.is(final.admitted, 2);
});

test.serial(`v2: ${10 * GUARD} refused Initiates with valid cookies (unknown keys, spoiled boxes) leave the guard empty; an allowed client still connects, and its replayed Initiate is still refused`, async (t) => {
  const v2Cookies = await startCookieKeeper({ guardSize: GUARD });
  t.teardown(() => v2Cookies.close());
  const listener = await world.listen({ cookies: v2Cookies, protocols: ['v2'] });
  const port = listener.address().port;
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const serverKey = listener.publicKey;
  // Flips the last byte of every Initiate (inside its box, after the valid cookie).
  const spoiler = await startProxy(port, (payload, ctx) => {
    if (ctx.direction !== 'toServer' || ctx.index !== 1) return [payload];
    const spoiled = payload.slice();
    spoiled[spoiled.length - 1]! ^= 1;
    return [spoiled];
  });
  t.teardown(() => spoiler.close());

  // Half vouch correctly for a key the registry does not know (an authenticated REJECT); the
  // other half are the allowed client with its Initiate spoiled on the way (a silent close).
  const bogus = async (i: number) => {
    const vault = i % 2 === 0 ? LocalVault.generate() : world.clientVault;
    const error = await connect('127.0.0.1', i % 2 === 0 ? port : spoiler.port, { protocol: 'v2', vault, serverKey, timeout: 60_000 }).then(
      (socket) => socket.close().then(() => null),
      (e: CurvetunError) => e,
    );
    if (i % 2 === 0) t.true(error instanceof RejectedError && error.reason === 'key-not-allowed', String(error));
    else t.is(error?.code, 'EHANDSHAKE');
  };
  for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: GUARD }, (_, j) => bogus(batch * GUARD + j)));
  for (let i = 0; i < 600 && failures.length < 10 * GUARD; i++) await new Promise((r) => setTimeout(r, 100));

  t.is(failures.length, 10 * GUARD);
  t.true(failures.every((e) => e.code === 'EAUTH'), 'each refused as EAUTH');
  t.true(failures.some((e) => /client key refused/.test(e.message)));
  t.true(failures.some((e) => /Initiate box did not authenticate/.test(e.message)));
  t.false(failures.some((e) => e.code === 'EBUSY' || /replay guard is full/.test(e.message)));
  const afterFlood = await v2Cookies.stats();
  t.is(afterFlood.remembered, 0, 'nothing was remembered for them');
  t.is(afterFlood.refusedGuardFull, 0);
  t.is(afterFlood.opened, 10 * GUARD, 'every refused Initiate did carry a cookie that opened');

  // An allowed client gets in as if nothing had happened; a recorder keeps its frames.
  const recorder = await startProxy(port);
  t.teardown(() => recorder.close());
  const accepted = listener.accept({ timeout: 60_000 });
  const client = await connect('127.0.0.1', recorder.port, { protocol: 'v2', vault: world.clientVault, serverKey, timeout: 60_000 });
  t.teardown(() => client.close());
  const server = await accepted;
  t.teardown(() => server.close());
  await client.send('still welcome');
  t.is(Buffer.from(await server.recv({ timeout: 60_000 })).toString(), 'still welcome');

  // Its Hello and Initiate, replayed on a fresh TCP connection after the cookie was admitted: the
  // server answers the Hello with a new Cookie, then meets the old Initiate and refuses it.
  const [hello, initiate] = recorder.captured[0]!.toServer;
  const refusal = await replayedRefusal(t, port, [hello!, initiate!], failures);
  t.regex(refusal.message, /already used: a replayed Initiate/);
  const final = await v2Cookies.stats();
  t.is(final.remembered, 1, 'exactly the one handshake that passed every check');
  t.is(final.admitted, 1);
  t.is(final.refusedReplay, 1);
});
