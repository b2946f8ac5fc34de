/**
 * Protocol v2 handshake edges the end-to-end suites do not reach: each half wipes the secrets it
 * held once they served (checked on the very arrays, through a recording backend, vault and cookie
 * keeper wrapped around the real ones); a vault that cannot do v2 is refused before anything is
 * sent; a server that answers a v2 Hello with a v1 Cookie gets no fallback; a cookie that another
 * connection admitted first is answered by REJECT replay; a cookie keeper that fails while
 * admitting ends the handshake with its own error, never a REJECT. Real sockets on
 * 127.0.0.1, real worker vaults and registries, real crypto.
 */
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import test from 'ava';
import { CurvetunError, LocalCookieKeeper, RejectedError, connect, getBackend } from '../lib/index.js';
import type { CookieKeeper, CryptoBackend, KeyPair, Vault } from '../lib/index.js';
import { encodeCookie, encodeFrame } from '../lib/protocol/index.js';
import { until } from './helpers/agent.js';
import { makeWorld } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { frameIO } from './helpers/frame-io.js';

const nacl = getBackend('tweetnacl');
let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(() => world.dispose());

const zero = (bytes: Uint8Array) => bytes.length > 0 && bytes.every((b) => b === 0);

/** A tweetnacl backend that keeps every key pair it makes and every shared point it computes. */
function recordingBackend(): { backend: CryptoBackend; pairs: KeyPair[]; points: Uint8Array[] } {
  const pairs: KeyPair[] = [];
  const points: Uint8Array[] = [];
  const backend: CryptoBackend = {
    ...nacl,
    keyPair() {
      const pair = nacl.keyPair();
      pairs.push(pair);
      return pair;
    },
    scalarMult(secretKey, publicKey) {
      const point = nacl.scalarMult(secretKey, publicKey);
      points.push(point);
      return point;
    },
  };
  return { backend, pairs, points };
}

/** `target` with method `name` replaced by `replacement` (the others still bound to `target`). */
function withMethod<T extends object>(target: T, name: keyof T, replacement: unknown): T {
  return new Proxy(target, {
    get(object, key) {
      if (key === name) return replacement;
      const value = Reflect.get(object, key, object) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(object) : value;
    },
  });
}

test.serial('the v2 client wipes its ephemeral secret and every shared point, after READY and after a failed handshake', async (t) => {
  const listener = await world.listen({ protocols: ['v2'] });
  const accepted = listener.accept({ timeout: 30_000 });
  const done = recordingBackend();
  const client = await connect('127.0.0.1', listener.address().port, { protocol: 'v2', vault: world.clientVault, serverKey: listener.publicKey, crypto: done.backend, timeout: 30_000 });
  t.teardown(() => client.close());
  await accepted;
  // One pair served this handshake; any other is stock made ahead for the next one.
  t.is(done.pairs.filter((p) => zero(p.secretKey)).length, 1, 'the ephemeral secret that served is all zeros');
  t.is(done.points.length, 2, 'X(ec, S) and X(ec, ES)');
  t.true(done.points.every(zero), 'both shared points are all zeros');

  // A wrong server key: the server closes without a word before any Cookie.
  const failed = recordingBackend();
  const error = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { protocol: 'v2', vault: world.clientVault, serverKey: nacl.keyPair().publicKey, crypto: failed.backend, timeout: 30_000 }), {
    instanceOf: CurvetunError,
  });
  t.is(error!.code, 'EHANDSHAKE');
  t.is(failed.pairs.filter((p) => zero(p.secretKey)).length, 1, 'the ephemeral secret is wiped when the handshake fails too');
  t.true(failed.points.length === 1 && zero(failed.points[0]!), 'X(ec, S) is all zeros');
});

test.serial('the v2 server wipes its ephemeral secret, the shared point, the Hello chaining key and the secrets its cookie brought back', async (t) => {
  const { backend, pairs, points } = recordingBackend();
  const chainingKeys: Uint8Array[] = [];
  const vault: Vault = withMethod(world.serverVault, 'openHelloV2', async (request: Parameters<NonNullable<Vault['openHelloV2']>>[0]) => {
    const opened = await world.serverVault.openHelloV2!(request);
    chainingKeys.push(opened.chainingKey);
    return opened;
  });
  const keeper = new LocalCookieKeeper();
  t.teardown(() => keeper.close());
  const fromCookies: Uint8Array[] = [];
  const cookies: CookieKeeper = withMethod(keeper, 'openV2', async (cookie: Uint8Array) => {
    const secrets = await keeper.openV2(cookie);
    fromCookies.push(secrets.serverEphemeralSecretKey, secrets.chainingKey);
    return secrets;
  });
  const listener = await world.listen({ protocols: ['v2'], vault, cookies, crypto: backend });
  const accepted = listener.accept({ timeout: 30_000 });
  const client = await connect('127.0.0.1', listener.address().port, { protocol: 'v2', vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000 });
  t.teardown(() => client.close());
  const server = await accepted;
  t.teardown(() => server.close());
  await client.send('after the wipe');
  t.is(Buffer.from(await server.recv({ timeout: 30_000 })).toString(), 'after the wipe', 'the session works on keys of its own');

  t.is(pairs.filter((p) => zero(p.secretKey)).length, 1, 'the ephemeral secret that served is all zeros');
  t.true(points.length === 1 && zero(points[0]!), 'X(ES, ec) is all zeros');
  t.true(chainingKeys.length === 1 && zero(chainingKeys[0]!), "the vault's ck1 is all zeros once the Cookie is out");
  t.true(fromCookies.length === 2 && fromCookies.every(zero), "the cookie's ES secret and ck3 are all zeros once READY is out");
});

test.serial('a vault adapter without sealVouchV2 is refused at connect (EINVAL) before a Hello is sent', async (t) => {
  let helloes = 0;
  const server = createServer((socket) => socket.on('data', () => helloes++));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const v1Only: Vault = withMethod(world.clientVault, 'sealVouchV2', undefined);
  const port = (server.address() as { port: number }).port;
  const error = await t.throwsAsync(connect('127.0.0.1', port, { protocol: 'v2', vault: v1Only, serverKey: world.serverVault.publicKey, timeout: 30_000 }), {
    instanceOf: CurvetunError,
  });
  t.is(error!.code, 'EINVAL', error!.message);
  t.regex(error!.message, /sealVouchV2/);
  t.is(helloes, 0, 'nothing reached the server');
});

test.serial('a server that answers a v2 Hello with a v1 Cookie is refused: EHANDSHAKE, no fallback to v1', async (t) => {
  const heard: Uint8Array[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const io = frameIO(socket);
    void io.nextFrame().then((hello) => {
      heard.push(hello);
      // A well-formed v1 Cookie packet (its box is noise: the client must not even try it).
      socket.write(encodeFrame(encodeCookie({ nonce16: nacl.randomBytes(16), box: nacl.randomBytes(144) })));
    }, () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as { port: number }).port;
  const error = await t.throwsAsync(connect('127.0.0.1', port, { protocol: 'v2', vault: world.clientVault, serverKey: world.serverVault.publicKey, timeout: 30_000 }), {
    instanceOf: CurvetunError,
  });
  t.is(error!.code, 'EHANDSHAKE', error!.message);
  t.regex(error!.message, /answered in v1/);
  t.is(heard.length, 1, 'one v2 Hello, and nothing after it');
});

test.serial('a cookie admitted by a racing connection first (both passed openV2) gets REJECT replay: the client and the listener see RejectedError replay', async (t) => {
  const keeper = new LocalCookieKeeper();
  t.teardown(() => keeper.close());
  // The race, made certain: the other connection's admit lands just before ours.
  const cookies: CookieKeeper = withMethod(keeper, 'admit', async (cookie: Uint8Array) => {
    await keeper.admit(new Uint8Array(cookie));
    await keeper.admit(cookie);
  });
  const listener = await world.listen({ protocols: ['v2'], cookies });
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const error = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { protocol: 'v2', vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000 }), {
    instanceOf: RejectedError,
  });
  t.is(error!.code, 'EAUTH');
  t.is((error as RejectedError).reason, 'replay');
  await until(() => failures.length > 0, "the listener's handshakeError", 30_000);
  t.true(failures[0] instanceof RejectedError && failures[0].reason === 'replay' && failures[0].code === 'EAUTH', String(failures[0]));
  t.is((await keeper.stats()).refusedReplay, 1);
  t.is(listener.stats.accepted, 0);
});

test.serial('a cookie keeper that fails while admitting ends the handshake with its own error, never a REJECT (replay or busy)', async (t) => {
  const keeper = new LocalCookieKeeper();
  t.teardown(() => keeper.close());
  const cookies: CookieKeeper = withMethod(keeper, 'admit', async () => {
    throw new CurvetunError('EIO', 'the replay guard could not be read');
  });
  const listener = await world.listen({ protocols: ['v2'], cookies });
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const error = await t.throwsAsync(connect('127.0.0.1', listener.address().port, { protocol: 'v2', vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000 }), {
    instanceOf: CurvetunError,
  });
  t.false(error instanceof RejectedError, `the client is told nothing it could take for a verdict: ${error!.message}`);
  t.is(error!.code, 'EHANDSHAKE');
  await until(() => failures.length > 0, "the listener's handshakeError", 30_000);
  t.is(failures[0]!.code, 'EIO');
  t.false(failures[0] instanceof RejectedError);
  t.is(listener.stats.accepted, 0);
});
