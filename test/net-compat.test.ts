/**
 * The socket and listener as a node:net user expects them (lib/connection/net-compat.ts), over
 * real loopback connections: addresses, byte counts each side agrees on, TCP keepalive as the
 * kernel reports it, the idle notification, destroy, ref/unref in a child process, and the
 * listener's events.
 */
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect, CurvetunError } from '../lib/index.js';
import type { ConnectOptions, CurvetunSocket, Listener } from '../lib/index.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { daemon, keygen, run } from './cli-process.js';
import { bytes, failure, makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { runUnrefChild } from './helpers/unref-child.js';

let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(async () => {
  await world?.dispose();
});

/** A listener of the world's, closed when the test ends. */
async function listenFor(t: ExecutionContext, options: Parameters<World['listen']>[0] = {}): Promise<Listener> {
  const listener = await world.listen(options);
  t.teardown(() => listener.close());
  return listener;
}

async function pair(t: ExecutionContext, listener: Listener, options: Partial<ConnectOptions> = {}) {
  const acceptP = listener.accept({ timeout: 30_000 });
  const client = await connect('127.0.0.1', listener.address().port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000, ...options });
  const server = await acceptP;
  t.teardown(() => Promise.all([client.close(), server.close()]).then(() => undefined));
  return { client, server };
}

for (const protocol of ['v1', 'v2'] as const) {
  test.serial(`${protocol}: addresses, and byte counts both ends agree on (application and wire)`, async (t) => {
    const listener = await listenFor(t);
    const { client, server } = await pair(t, listener, { protocol });
    const port = listener.address().port;
    t.like(client.address(), { address: '127.0.0.1', family: 'IPv4', port: client.localPort! });
    t.is(client.localAddress, '127.0.0.1');
    t.is(server.remotePort, client.localPort!);
    t.is(server.localPort, port);
    t.is(client.remotePort, port);
    t.is(client.remoteFamily, 'IPv4');

    let sent = 0;
    for (const size of [0, 1, 1000, 5000, 65_000]) {
      await client.send(bytes(size, size));
      sent += size;
      const got = await server.recv({ timeout: 30_000 });
      await server.send(got.subarray(0, Math.floor(size / 2)));
      await client.recv({ timeout: 30_000 });
    }
    await client.send('héllo'); // a string counts its UTF-8 bytes
    sent += Buffer.byteLength('héllo');
    await server.recv({ timeout: 30_000 });
    t.is(client.bytesWritten, sent);
    t.is(server.bytesRead, sent);
    t.is(server.bytesWritten, (0 + 0 + 500 + 2500 + 32_500));
    t.is(client.bytesRead, server.bytesWritten);
    // The last frame each way has been read by the other end: the kernel counts agree exactly.
    t.is(server.wireBytesRead, client.wireBytesWritten);
    t.is(client.wireBytesRead, server.wireBytesWritten);
    // Handshake, framing and authenticators come on top of the application bytes.
    t.true(client.wireBytesWritten > client.bytesWritten);
    t.true(client.wireBytesRead > client.bytesRead);
  });
}

test.serial('peerKey is read-only: no assignment, and a changed copy changes nothing', async (t) => {
  const listener = await listenFor(t);
  const { client, server } = await pair(t, listener);
  t.throws(() => {
    (client as unknown as { peerKey: Uint8Array }).peerKey = new Uint8Array(32);
  }, { instanceOf: TypeError });
  client.peerKey.fill(0);
  t.deepEqual(client.peerKey, listener.publicKey);
  t.deepEqual(server.peerKey, world.clientVault.publicKey);
});

test.serial("'connect' fires on a client once connect() has resolved; setNoDelay is on from the start", async (t) => {
  const listener = await listenFor(t);
  const { client } = await pair(t, listener);
  await within(once(client, 'connect'), 30_000, "'connect'");
  // Node keeps what it last set on the handle under its kSetNoDelay symbol.
  const tcp = (client as unknown as { tcp: object }).tcp;
  const noDelay = () => {
    const sym = Object.getOwnPropertySymbols(tcp).find((s) => s.description === 'kSetNoDelay');
    return sym ? (tcp as Record<symbol, unknown>)[sym] : undefined;
  };
  t.is(noDelay(), true);
  t.is(client.setNoDelay(false), client);
  t.is(noDelay(), false);
  client.setNoDelay();
  t.is(noDelay(), true);
});

// ---- TCP keepalive, as the kernel reports it ----------------------------------------------------

const PROC_TCP = '/proc/net/tcp';
/** /proc/net/tcp gives timers in USER_HZ ticks. */
const TICKS_PER_S = 100;

/** The kernel's timer on the IPv4 socket local:localPort → remotePort: 0 none, 1 retransmit, 2 keepalive. */
function kernelTimer(localPort: number, remotePort: number): { timer: number; seconds: number } | undefined {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync(PROC_TCP, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !f[1]!.endsWith(`:${hex(localPort)}`) || !f[2]!.endsWith(`:${hex(remotePort)}`) || f[3] !== '01') continue;
    const [timer, when] = f[5]!.split(':');
    return { timer: Number.parseInt(timer!, 16), seconds: Number.parseInt(when!, 16) / TICKS_PER_S };
  }
  return undefined;
}

/** The timer once nothing is in flight (a retransmit timer hides the keepalive one); bounded. */
async function idleTimer(t: ExecutionContext, socket: CurvetunSocket): Promise<{ timer: number; seconds: number }> {
  for (let i = 0; i < 200; i++) {
    const found = kernelTimer(socket.localPort!, socket.remotePort);
    if (found && found.timer !== 1) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.fail('the connection never went idle in /proc/net/tcp');
  return { timer: -1, seconds: 0 };
}

const procTest = existsSync(PROC_TCP) ? test.serial : test.serial.skip;
if (!existsSync(PROC_TCP)) console.log(`net-compat: ${PROC_TCP} is missing (not Linux?): the keepalive tests are skipped`);

procTest('keepalive is on by default at both ends (first probe within 60 s), off with keepAlive: false, and settable per socket', async (t) => {
  const listener = await listenFor(t);
  const { client, server } = await pair(t, listener);
  for (const end of [client, server]) {
    const { timer, seconds } = await idleTimer(t, end);
    t.is(timer, 2, 'a keepalive timer is armed');
    t.true(seconds > 0 && seconds <= 60, `first probe in ${seconds} s`);
  }
  client.setKeepAlive(true, 600_000);
  const longer = await idleTimer(t, client);
  t.is(longer.timer, 2);
  t.true(longer.seconds > 60 && longer.seconds <= 600, `first probe in ${longer.seconds} s`);
  client.setKeepAlive(false);
  t.is((await idleTimer(t, client)).timer, 0, 'no timer once keepalive is off');

  const quiet = await listenFor(t, { keepAlive: false });
  const off = await pair(t, quiet, { keepAlive: false });
  t.is((await idleTimer(t, off.client)).timer, 0);
  t.is((await idleTimer(t, off.server)).timer, 0);

  const tuned = await listenFor(t, { keepAlive: { initialDelay: 300_000 } });
  const slow = await pair(t, tuned, { keepAlive: { initialDelay: 300_000 } });
  for (const end of [slow.client, slow.server]) {
    const { timer, seconds } = await idleTimer(t, end);
    t.is(timer, 2);
    t.true(seconds > 60 && seconds <= 300, `first probe in ${seconds} s`);
  }
});

test.serial('keepAlive that is neither a boolean nor { initialDelay } is EINVAL', async (t) => {
  const bad = { keepAlive: 'yes' as unknown as boolean };
  t.is((await failure(connect('127.0.0.1', 1, { vault: world.clientVault, serverKey: world.serverVault.publicKey, ...bad }))).code, 'EINVAL');
  t.is((await failure(world.listen(bad))).code, 'EINVAL');
  t.is((await failure(world.listen({ keepAlive: { initialDelay: -1 } }))).code, 'EINVAL');
});

// ---- idle notification, destroy -----------------------------------------------------------------

test.serial("setTimeout: 'timeout' fires on an idle socket, which stays open and usable; 0 turns it off", async (t) => {
  const listener = await listenFor(t);
  const { client, server } = await pair(t, listener);
  let calls = 0;
  client.setTimeout(200, () => calls++);
  await within(once(client, 'timeout'), 30_000, "'timeout'");
  t.is(calls, 1);
  t.false(client.closed);
  await client.send('still here');
  t.is(new TextDecoder().decode(await server.recv({ timeout: 30_000 })), 'still here');
  await server.send('and back');
  t.is(new TextDecoder().decode(await client.recv({ timeout: 30_000 })), 'and back');
  // It fires again after each idle period, until turned off.
  await within(once(client, 'timeout'), 30_000, "a second 'timeout'");
  client.setTimeout(0);
  let late = 0;
  client.on('timeout', () => late++);
  await new Promise((r) => setTimeout(r, 800));
  t.is(late, 0);
  t.false(client.closed);
});

test.serial('destroy(): closed at once, what was queued is dropped, the peer sees the close', async (t) => {
  const listener = await listenFor(t);
  const { client, server } = await pair(t, listener);
  const queued = client.send('never delivered');
  client.destroy();
  t.true(client.closed);
  t.like(client.closeReason, { code: 'ECLOSED', message: 'the socket was destroyed locally' });
  t.is((await failure(queued)).code, 'ECLOSED');
  // v2: a destroy sends no END or CLOSE, so the peer cannot tell it from a cut: ETRUNCATED.
  t.is((await failure(server.recv({ timeout: 30_000 }))).code, 'ETRUNCATED');
  t.is(server.bytesRead, 0);
});

test.serial('destroy(error): the error becomes the close reason (EABORTED with it as cause) and is emitted', async (t) => {
  const listener = await listenFor(t);
  const { client, server } = await pair(t, listener);
  const errors: CurvetunError[] = [];
  client.on('error', (e) => errors.push(e));
  const cause = new Error('gave up');
  client.destroy(cause);
  await within(once(client, 'close'), 30_000, "'close'");
  t.is(errors.length, 1);
  t.like(errors[0], { code: 'EABORTED', cause });
  const own = new CurvetunError('EPROTO', 'mine');
  server.destroy(own);
  t.is(server.closeReason, own);
});

// ---- ref / unref, in a child process ------------------------------------------------------------

test.serial('unref() lets a connected client process exit by itself; ref() again keeps it alive until the server closes', async (t) => {
  const listener = await listenFor(t, { acceptAnyClient: true });
  const unref = runUnrefChild(t, world.dir, listener, 'unref');
  const server = await listener.accept({ timeout: 240_000 });
  t.teardown(() => server.close());
  const ended = await unref.exited;
  t.deepEqual(ended, { code: 0, signal: null }, unref.err());
  t.is(unref.out(), 'connected\n');
  // It exited while we still held the connection open; its end closed when it went.
  t.is((await failure(server.recv({ timeout: 60_000 }))).code, 'ETRUNCATED'); // the child exited without END or CLOSE (v2)

  const ref = runUnrefChild(t, world.dir, listener, 'ref');
  const held = await listener.accept({ timeout: 240_000 });
  await within(new Promise<void>((resolve) => ref.child.stdout.once('data', () => resolve())), 240_000, 'the ref child connecting');
  const early = await Promise.race([ref.exited, new Promise((r) => setTimeout(() => r('running'), 1500))]);
  t.is(early, 'running', 'a ref\'d connection keeps the process alive');
  await held.close();
  t.deepEqual(await ref.exited, { code: 0, signal: null }, ref.err());
  t.is(ref.out(), 'connected\nclosed\n');
});

// ---- the listener's events ----------------------------------------------------------------------

test.serial("listener: 'listening' after listen(), 'connection' takes what no accept() waits for (queued ones too), 'close' after close()", async (t) => {
  const listener = await listenFor(t);
  await within(once(listener, 'listening'), 30_000, "'listening'");
  const opts = { vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000 };
  // Before anyone listens for 'connection': queued for accept().
  const early = await connect('127.0.0.1', listener.address().port, opts);
  t.teardown(() => early.close());
  const seen: CurvetunSocket[] = [];
  listener.on('connection', (socket) => {
    seen.push(socket);
    void (async () => {
      for await (const m of socket) await socket.send(m);
    })().catch(() => undefined);
  });
  const late = await connect('127.0.0.1', listener.address().port, opts);
  t.teardown(() => late.close());
  for (const c of [early, late]) {
    await c.send('ping');
    t.is(new TextDecoder().decode(await c.recv({ timeout: 30_000 })), 'ping');
  }
  t.is(seen.length, 2);
  t.deepEqual(seen.map((s) => s.remotePort).sort(), [early.localPort!, late.localPort!].sort());
  // A waiting accept() comes first.
  const accepting = listener.accept({ timeout: 30_000 });
  const third = await connect('127.0.0.1', listener.address().port, opts);
  t.teardown(() => third.close());
  t.is((await accepting).remotePort, third.localPort!);
  t.is(seen.length, 2);
  const closed = once(listener, 'close');
  await listener.close();
  await within(closed, 30_000, "'close'");
});

// ---- the CLI's --keepalive ----------------------------------------------------------------------

procTest('echo-server --keepalive SECONDS sets the delay of its connections, --keepalive off turns it off; a bad value is a usage error', async (t) => {
  t.timeout(600_000);
  const bad = await run(['echo-server', '--listen', '127.0.0.1:0', '--any-client', '--keepalive', '0', '--home', join(world.dir, 'cli-home')]);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /--keepalive/);
  for (const [value, expect] of [['300', 2], ['off', 0]] as const) {
    await keygen(join(world.dir, `cli-home-${value}`), 'echo');
    const echo = await daemon(t, ['echo-server', '--listen', '127.0.0.1:0', '--any-client', '--keepalive', value, '--home', join(world.dir, `cli-home-${value}`)]);
    const serverKey = loadPublicKeyFile(join(world.dir, `cli-home-${value}`, 'id_curvetun.pub'));
    const client = await connect('127.0.0.1', echo.port, { vault: world.clientVault, serverKey, keepAlive: false, timeout: 120_000 });
    t.teardown(() => client.close());
    await client.send('x');
    await client.recv({ timeout: 120_000 });
    let found: { timer: number; seconds: number } | undefined;
    for (let i = 0; i < 200 && (found === undefined || found.timer === 1); i++) {
      found = kernelTimer(echo.port, client.localPort!);
      if (found === undefined || found.timer === 1) await new Promise((r) => setTimeout(r, 50));
    }
    t.is(found?.timer, expect, `--keepalive ${value}`);
    if (expect === 2) t.true(found!.seconds > 60 && found!.seconds <= 300, `first probe in ${found!.seconds} s`);
  }
});
