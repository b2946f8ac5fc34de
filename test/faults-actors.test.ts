/**
 * Actor faults under load (issue 7, part 4): 50 connections exchange messages while the vault,
 * the cookie keeper and the registry workers are killed in turn. Established connections keep
 * working (they need no actor), handshakes in flight fail with typed errors, new ones succeed
 * after the supervisor restarts the worker, and the vault never reuses a safe-nonce counter.
 */
import { join } from 'node:path';
import test from 'ava';
import { connect, CurvetunError } from '../lib/index.js';
import type { CurvetunSocket } from '../lib/index.js';
import { startCookieKeeper } from '../lib/cookie/index.js';
import type { WorkerCookieKeeper } from '../lib/cookie/index.js';
import type { WorkerRegistry } from '../lib/registry/index.js';
import type { WorkerVault } from '../lib/vault/index.js';
import { decodePacket, encodeFrame } from '../lib/protocol/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { rawHandshake } from './helpers/raw.js';
import { bytes, echoServer, makeWorld } from './helpers/fixtures.js';
import { startProxy } from './helpers/proxy.js';
import { counterOf, scrambleKeyOf } from './helpers/nonces.js';

test('killing the vault, cookie keeper and registry workers under load: established connections go on, in-flight handshakes fail typed, new ones succeed, no nonce counter reused', async (t) => {
  t.timeout(300_000);
  const world = await makeWorld();
  const cookies: WorkerCookieKeeper = await startCookieKeeper();
  // Every client goes through a recording proxy: the Cookie packets carry the vault's safe nonces.
  // Deadlines and polling bounds are generous: a worker restart on a loaded machine takes seconds,
  // and what is tested is the outcome (typed failures, then success), not how fast it comes.
  const listener = await world.listen({ cookies, maxPendingPerAddress: 1_000, handshakeTimeout: 30_000 });
  const proxy = await startProxy(listener.address().port);
  const handshakeErrors: CurvetunError[] = [];
  listener.on('handshakeError', (e) => handshakeErrors.push(e));
  void echoServer(listener);
  const dial = () => connect('127.0.0.1', proxy.port, { protocol: 'v1', vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000 });

  try {
    // 50 connections, each a ping-pong loop of random-size messages, every echo checked.
    const sockets: CurvetunSocket[] = [];
    for (let i = 0; i < 50; i += 10) sockets.push(...(await Promise.all(Array.from({ length: 10 }, dial))));
    const exchanged = new Array<number>(sockets.length).fill(0);
    let running = true;
    const loops = sockets.map(async (socket, i) => {
      let n = 0;
      while (running) {
        const message = bytes((n * 7919 + i * 131) % 4_000, n + i * 1_000 + 1);
        await socket.send(message);
        const echo = await socket.recv({ timeout: 60_000 });
        if (!Buffer.from(echo).equals(message)) throw new Error(`connection ${i}: wrong echo at ${n}`);
        exchanged[i] = ++n;
      }
    });
    const loopErrors: unknown[] = [];
    loops.forEach((l) => l.catch((e: unknown) => loopErrors.push(e)));

    // "Established" means the server answered: the client alone cannot know its Vouch was taken
    // (the protocol has no confirmation), so wait for one echo on every connection first.
    for (let i = 0; i < 3_000 && !exchanged.every((n) => n > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    t.true(exchanged.every((n) => n > 0));

    const victims: { name: string; kill(): Promise<void> }[] = [
      { name: 'vault', kill: () => (world.serverVault as WorkerVault).actor.kill() },
      { name: 'cookie keeper', kill: () => cookies.actor.kill() },
      { name: 'registry', kill: () => (world.registry as WorkerRegistry).actor.kill() },
    ];
    for (const victim of victims) {
      const before = [...exchanged];
      // Handshakes in flight when the worker dies: 10 dials spread over 50 ms, the kill in the middle.
      // Each counts as done only once the server echoed (the client alone cannot know its Vouch
      // was accepted: the protocol has no confirmation).
      const serverErrorsBefore = handshakeErrors.length;
      const inFlight = Array.from({ length: 10 }, async (_, k) => {
        await new Promise((resolve) => setTimeout(resolve, k * 5));
        try {
          const s = await dial();
          try {
            await s.send('in flight');
            await s.recv({ timeout: 30_000 });
          } finally {
            await s.close();
          }
          return 'ok';
        } catch (error) {
          return error;
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await victim.kill();
      const outcomes = await Promise.all(inFlight);
      const failed = outcomes.filter((o) => o !== 'ok');
      for (const f of failed) t.true(f instanceof CurvetunError, `a ${victim.name} fault gave an untyped error: ${String(f)}`);
      const serverSide = handshakeErrors.slice(serverErrorsBefore).map((e) => e.code);

      // After the supervisor restarts the worker, new handshakes succeed (allow it a moment).
      let fresh: CurvetunSocket | undefined;
      for (let attempt = 0; attempt < 300 && !fresh; attempt++) {
        fresh = await dial().catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, 100));
          return undefined;
        });
      }
      t.truthy(fresh, `no new handshake succeeded after the ${victim.name} restarted`);
      const more = await Promise.all(Array.from({ length: 5 }, dial));
      for (const s of [fresh!, ...more]) {
        await s.send('after restart');
        t.is(Buffer.from(await s.recv({ timeout: 30_000 })).toString(), 'after restart');
        await s.close();
      }

      // Established connections never noticed: each one goes on exchanging (polled, bounded).
      for (let i = 0; i < 3_000 && !exchanged.every((n, j) => n > before[j]!); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      t.deepEqual(loopErrors.map(String), []);
      t.true(exchanged.every((n, i) => n > before[i]!), `every connection kept exchanging across the ${victim.name} kill: ${exchanged.map((n, i) => n - before[i]!).join(' ')}`);
      t.true(sockets.every((s) => !s.closed));
      t.log(
        `${victim.name} killed: ${failed.length}/10 in-flight handshakes failed on the client (${failed.map((f) => (f as CurvetunError).code).join(',') || '-'}); ` +
          `server handshake errors: ${serverSide.join(',') || '-'}`,
      );
    }

    running = false;
    await Promise.all(loops);
    t.log(`messages exchanged per connection: ${Math.min(...exchanged)}–${Math.max(...exchanged)}`);
    t.true(handshakeErrors.every((e) => e instanceof CurvetunError));
    t.log(`server handshake errors: ${[...new Set(handshakeErrors.map((e) => e.code))].join(', ')}`);
    await Promise.all(sockets.map((s) => s.close()));

    // Every Cookie's safe nonce, unscrambled: no counter twice, across the vault's restart too.
    const scrambleKey = scrambleKeyOf(join(world.dir, 'server.key'));
    const counters: number[] = [];
    for (const conn of proxy.captured) {
      const first = conn.toClient[0];
      if (!first) continue;
      const packet = decodePacket(first);
      if (packet.type === 'cookie') counters.push(counterOf(packet.nonce16, scrambleKey));
    }
    t.true(counters.length >= 50, `${counters.length} cookies seen`);
    t.is(new Set(counters).size, counters.length, 'a safe-nonce counter was used twice');
    t.log(`${counters.length} cookie nonces, counters ${Math.min(...counters)}–${Math.max(...counters)}, all distinct`);
  } finally {
    await proxy.close();
    await listener.close();
    await cookies.close();
    await world.dispose();
  }
});

test('a handshake paused between Cookie and Vouch across a worker restart: the vault and registry restarts are survived, the cookie keeper restart fails it with EAUTH', async (t) => {
  t.timeout(240_000);
  const world = await makeWorld();
  const cookies: WorkerCookieKeeper = await startCookieKeeper();
  // Deadlines far beyond a worker restart on a loaded machine (seconds): the outcome is tested, not speed.
  const listener = await world.listen({ cookies, handshakeTimeout: 60_000 });
  const port = listener.address().port;
  const backend = getBackend('auto');
  try {
    const victims = [
      { name: 'vault', actor: (world.serverVault as WorkerVault).actor, survives: true },
      { name: 'registry', actor: (world.registry as WorkerRegistry).actor, survives: true },
      // Minute keys live only in the keeper's memory: a new keeper cannot open the old cookie.
      { name: 'cookie keeper', actor: cookies.actor, survives: false },
    ];
    for (const victim of victims) {
      const hs = await rawHandshake(port, { backend, vault: world.clientVault, serverKey: listener.publicKey, sendVouch: false });
      const restarted = new Promise((resolve) => victim.actor.on('restart', resolve));
      await victim.actor.kill();
      await restarted;
      const failure = new Promise<CurvetunError>((resolve) => listener.once('handshakeError', resolve));
      hs.tcp.write(encodeFrame(hs.vouch));
      if (victim.survives) {
        const server = await listener.accept({ timeout: 60_000 });
        hs.tcp.write(hs.session.seal(Buffer.from(`after the ${victim.name} restart`)));
        t.is(Buffer.from(await server.recv({ timeout: 60_000 })).toString(), `after the ${victim.name} restart`);
        await server.close();
      } else {
        const error = await failure;
        t.true(error instanceof CurvetunError);
        t.is(error.code, 'EAUTH', error.message);
        await hs.closed;
      }
      hs.tcp.destroy();
      await hs.closed;
    }
  } finally {
    await listener.close();
    await cookies.close();
    await world.dispose();
  }
});
