/**
 * Handshake floods (issue 7, part 2): hundreds of peers that open TCP and never finish the
 * handshake. They must be dropped at the handshake timeout, the pending caps must drop excess
 * ones at once, and a legitimate client must still get through.
 */
import test from 'ava';
import { connect } from '../lib/index.js';
import type { Listener } from '../lib/index.js';
import { makeWorld, echoServer } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { rawConnect } from './helpers/raw.js';
import type { RawConnection } from './helpers/raw.js';
import { encodeFrame } from '../lib/protocol/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { clientHandshake } from '../lib/connection/handshake.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world.dispose();
});

/** A valid Hello for `serverKey` (fresh ephemeral key), as the real client makes it. */
async function validHello(serverKey: Uint8Array): Promise<Uint8Array> {
  let hello: Uint8Array | undefined;
  await clientHandshake(
    {
      next: () => Promise.reject(new Error('stop after the Hello')),
      send: (payload) => (hello = payload),
    },
    { backend: getBackend('auto'), vault: world.clientVault, serverKey },
  ).catch(() => undefined);
  return hello!;
}

type FloodKind = 'nothing' | 'half' | 'hellos';

interface Flooder {
  conn: RawConnection;
  openedAt: number;
  closedAt: Promise<number>;
}

async function flood(listener: Listener, count: number, localAddress?: string): Promise<Flooder[]> {
  const port = listener.address().port;
  const hello = encodeFrame(await validHello(listener.publicKey));
  const kinds: FloodKind[] = ['nothing', 'half', 'hellos'];
  const out: Flooder[] = [];
  // Open in small groups so the kernel's accept queue never overflows on this small machine.
  for (let i = 0; i < count; i += 25) {
    const group = await Promise.all(
      Array.from({ length: Math.min(25, count - i) }, async (_, j) => {
        const conn = await rawConnect(port, localAddress);
        const openedAt = Date.now();
        const kind = kinds[(i + j) % kinds.length]!;
        if (kind === 'half') conn.tcp.write(hello.subarray(0, hello.length >> 1));
        if (kind === 'hellos') conn.tcp.write(hello);
        return { conn, openedAt, closedAt: conn.closed.then(() => Date.now()) };
      }),
    );
    out.push(...group);
  }
  return out;
}

/** Mean handshake time of `n` sequential connects (ms). */
async function handshakeTime(listener: Listener, n: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const socket = await connect('127.0.0.1', listener.address().port, {
      vault: world.clientVault,
      serverKey: listener.publicKey,
      timeout: 30_000,
    });
    total += performance.now() - started;
    await socket.send('hi');
    t_assertEcho(await socket.recv({ timeout: 30_000 }));
    await socket.close();
  }
  return total / n;
}

function t_assertEcho(reply: Uint8Array): void {
  if (Buffer.from(reply).toString() !== 'hi') throw new Error('wrong echo');
}

test.serial('500 peers that send nothing, half a Hello or only a Hello are dropped at the handshake timeout; a legit client still connects', async (t) => {
  t.timeout(180_000);
  // Long enough that the server has taken all 500, and the legit client has connected, before the
  // first one times out, even on a loaded machine (500 connects took ~7 s at a load average of 30).
  const timeout = 15_000;
  const listener = await world.listen({ handshakeTimeout: timeout, maxPendingHandshakes: 2_000, maxPendingPerAddress: 2_000 });
  void echoServer(listener);
  const codes = new Map<string, number>();
  listener.on('handshakeError', (e) => codes.set(e.code, (codes.get(e.code) ?? 0) + 1));

  await handshakeTime(listener, 1); // warm-up: JIT and worker caches
  const idle = await handshakeTime(listener, 5);
  const floodStart = Date.now();
  const flooders = await flood(listener, 500);
  // The kernel completes TCP connects before the server's event loop takes them: wait for it.
  const taken = () => listener.stats.pendingHandshakes + listener.stats.handshakeFailures;
  for (let i = 0; i < 3_000 && taken() < 500; i++) await new Promise((r) => setTimeout(r, 10));
  t.log(`flood opened in ${Date.now() - floodStart} ms; stats ${JSON.stringify(listener.stats)}`);
  t.is(taken(), 500, 'the server took every flood connection');
  const during = await handshakeTime(listener, 5);
  t.log(`legit handshake: idle ${idle.toFixed(1)} ms, during a 500-connection flood ${during.toFixed(1)} ms`);
  // Order, not speed: the legit client got in while every flood connection was still pending.
  t.is(listener.stats.handshakeFailures, 0, 'no flood connection had been dropped yet');
  t.is(listener.stats.pendingHandshakes, 500);

  const lifetimes = await Promise.all(flooders.map(async (f) => (await f.closedAt) - f.openedAt));
  const min = Math.min(...lifetimes);
  const max = Math.max(...lifetimes);
  t.log(`flood connections closed by the server after ${min}–${max} ms (timeout ${timeout} ms)`);
  t.true(min >= timeout - 50, `none dropped before the timeout (${min} ms)`);
  t.is(codes.get('ETIMEDOUT'), 500, 'every one dropped by the handshake timeout');
  t.is(listener.stats.pendingHandshakes, 0);
  t.is(listener.stats.accepted, 11);
  t.is(await handshakeTime(listener, 1) > 0, true, 'the server serves after the flood');
});

test.serial('the global pending-handshake cap drops excess connections at once', async (t) => {
  t.timeout(180_000);
  // "At once" = before any handshake timeout could have fired; the timeout is long enough for that
  // to tell the two apart on a loaded machine.
  const timeout = 10_000;
  const cap = 50;
  const listener = await world.listen({ handshakeTimeout: timeout, maxPendingHandshakes: cap, maxPendingPerAddress: 2_000 });
  void echoServer(listener);
  const flooders = await flood(listener, 200);
  const results = await Promise.all(flooders.map(async (f) => (await f.closedAt) - f.openedAt));
  const quick = results.filter((ms) => ms < timeout - 50).length;
  const timedOut = results.filter((ms) => ms >= timeout - 50).length;
  t.log(`cap ${cap}: ${quick} dropped at once, ${timedOut} at the timeout; stats ${JSON.stringify(listener.stats)}`);
  t.is(listener.stats.droppedByLimit, 200 - cap);
  t.is(quick, 200 - cap);
  t.is(timedOut, cap);
  // Once the slots are free, a legit client connects again.
  t.true((await handshakeTime(listener, 1)) > 0);
});

test.serial('the per-address cap drops a flooding address early while a client from another address connects', async (t) => {
  t.timeout(180_000);
  // Long enough that the 20 admitted flood connections are still pending while the legit client connects.
  const timeout = 10_000;
  const cap = 20;
  const listener = await world.listen({ handshakeTimeout: timeout, maxPendingHandshakes: 1_000, maxPendingPerAddress: cap });
  void echoServer(listener);
  await handshakeTime(listener, 1); // warm-up: JIT and worker caches
  const idle = await handshakeTime(listener, 5);
  // The flood comes from 127.0.0.2; the legit client (registered for 127.0.0.1) from 127.0.0.1.
  const flooders = await flood(listener, 200, '127.0.0.2');
  const during = await handshakeTime(listener, 5);
  t.log(`legit handshake: idle ${idle.toFixed(1)} ms, during a per-address flood ${during.toFixed(1)} ms`);
  t.is(listener.stats.pendingHandshakes, cap);
  const results = await Promise.all(flooders.map(async (f) => (await f.closedAt) - f.openedAt));
  t.is(results.filter((ms) => ms < timeout - 50).length, 200 - cap, 'dropped before any timeout could fire');
  t.is(listener.stats.droppedByLimit, 200 - cap);
  t.is(listener.stats.accepted, 11);
});

test.serial('a peer that pours 5 MB of Hellos without waiting is closed at the second one, at once', async (t) => {
  t.timeout(120_000);
  // A timeout far away: the close must come from the second Hello (EPROTO), not from the deadline.
  const listener = await world.listen({ handshakeTimeout: 60_000 });
  const failed = new Promise<string>((resolve) => listener.once('handshakeError', (e) => resolve(`${e.code}: ${e.message}`)));
  const hello = Buffer.from(encodeFrame(await validHello(listener.publicKey)));
  const conn = await rawConnect(listener.address().port);
  const pour = Buffer.concat(Array.from({ length: 40_000 }, () => hello)); // ≈ 5.2 MB
  conn.tcp.write(pour);
  const started = Date.now();
  const reason = await failed;
  await conn.closed;
  const ms = Date.now() - started;
  t.log(`closed after ${ms} ms: ${reason}`);
  t.regex(reason, /^EPROTO: expected a vouch packet, got a hello packet/);
});
