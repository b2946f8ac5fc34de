/**
 * Protocol v2 against a man in the middle (a frame-aware proxy on loopback) and against forged
 * vouches: downgrades to v1 or to classical-only, altered Hello keys, swapped Cookie and Initiate
 * fields, a replayed Initiate, a vouch made with only the server's secret key (its theft), a vouch
 * for another handshake, a REJECT probe with a junk vouch, and low-order X25519 keys. Each ends
 * refused, with no connection accepted and no data delivered.
 */
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError, RejectedError } from '../lib/errors.js';
import { connect } from '../lib/index.js';
import type { Listener } from '../lib/index.js';
import { loadSecretKeyFile } from '../lib/keys/keyfile.js';
import { MAGIC_HELLO, encodeHello } from '../lib/protocol/index.js';
import {
  SUITE_CLASSICAL,
  V2_MAGIC_HELLO,
  chainHello,
  cookieBoxKey,
  decodeCookieBoxV2,
  decodeCookieV2,
  decodeHelloV2,
  encodeCookieBoxV2,
  encodeCookieV2,
  encodeHelloV2,
  helloHash,
  helloTranscriptPart,
  initialHash,
  V2_INITIATE,
} from '../lib/protocol/v2/index.js';
import type { Vault, VouchV2Request } from '../lib/vault/types.js';
import { makeWorld, within } from './helpers/fixtures.js';
import type { World } from './helpers/fixtures.js';
import { replay, startProxy } from './helpers/proxy.js';
import type { FrameHook } from './helpers/proxy.js';

const nacl = getBackend('tweetnacl');
let world: World;
test.before(async () => {
  world = await makeWorld();
});
test.after.always(() => world.dispose());

/** Listen, put a proxy with `hook` in front, and connect through it; returns the client's error and what the server saw. */
async function throughProxy(hook: FrameHook, options: { vault?: Vault; postQuantum?: boolean; listener?: Listener } = {}) {
  const listener = options.listener ?? (await world.listen());
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const proxy = await startProxy(listener.address().port, hook);
  try {
    const error = await connect('127.0.0.1', proxy.port, {
      vault: options.vault ?? world.clientVault,
      serverKey: listener.publicKey,
      timeout: 10_000,
      ...(options.postQuantum !== undefined ? { postQuantum: options.postQuantum } : {}),
    }).then(
      async (socket) => {
        await socket.close();
        return null;
      },
      (e: CurvetunError) => e,
    );
    // The server side settles too (it may still be reading when the client gave up).
    for (let i = 0; i < 100 && listener.stats.pendingHandshakes > 0; i++) await new Promise((r) => setTimeout(r, 20));
    return { error, failures, accepted: listener.stats.accepted, proxy };
  } finally {
    await proxy.close();
    if (!options.listener) await listener.close();
  }
}

const flip = (payload: Uint8Array, at: number) => {
  const out = payload.slice();
  out[at]! ^= 0x01;
  return out;
};

test.serial('a v2 Hello rewritten into a v1 Hello is refused (no key), the client sees EHANDSHAKE, nobody is moved to v1', async (t) => {
  const result = await throughProxy((payload, ctx) => {
    if (ctx.direction !== 'toServer' || ctx.index !== 0) return;
    const hello = decodeHelloV2(payload);
    return [encodeHello({ clientEphemeralKey: hello.clientEphemeralKey, counter: 0, box: nacl.randomBytes(80) })];
  });
  t.is(result.error?.code, 'EHANDSHAKE');
  t.is(result.accepted, 0);
  t.true(result.failures.length > 0 && result.failures.every((e) => e.code === 'EAUTH'), 'the v1 Hello box does not open');
  t.deepEqual([...result.proxy.captured[0]!.toServer[0]!.subarray(0, 8)], [...V2_MAGIC_HELLO], 'the client sent v2');
  t.notDeepEqual([...MAGIC_HELLO], [...V2_MAGIC_HELLO]);
});

test.serial('stripping the ML-KEM part (suite byte 2 → 1, ek removed) is refused: the transcript names the suite', async (t) => {
  const result = await throughProxy((payload, ctx) => {
    if (ctx.direction !== 'toServer' || ctx.index !== 0) return;
    const hello = decodeHelloV2(payload);
    t.is(hello.suite, 2);
    return [encodeHelloV2({ suite: SUITE_CLASSICAL, clientEphemeralKey: hello.clientEphemeralKey, encapsulationKey: new Uint8Array(0), box: hello.box })];
  });
  t.is(result.error?.code, 'EHANDSHAKE');
  t.is(result.accepted, 0);
  t.true(result.failures.some((e) => e.code === 'EAUTH'));
});

test.serial('an altered EC or ML-KEM key in the Hello is refused before any reply', async (t) => {
  for (const at of [9, 9 + 31, 9 + 32, 9 + 32 + 700]) {
    const result = await throughProxy((payload, ctx) => (ctx.direction === 'toServer' && ctx.index === 0 ? [flip(payload, at)] : undefined));
    t.is(result.error?.code, 'EHANDSHAKE', `byte ${at}`);
    t.is(result.accepted, 0);
    t.is(result.proxy.captured[0]!.toClient.length, 0, 'no Cookie was sent');
  }
});

test.serial('a tampered Cookie (nonce, box) is refused by the client: EAUTH', async (t) => {
  for (const at of [8, 8 + 24, 8 + 24 + 500, 1335]) {
    const result = await throughProxy((payload, ctx) => (ctx.direction === 'toClient' && ctx.index === 0 ? [flip(payload, at)] : undefined));
    t.is(result.error?.code, 'EAUTH', `byte ${at}`);
    t.is(result.accepted, 0);
  }
});

/**
 * Two clients connect at once through a proxy that holds the first `direction` frame number
 * `index` until the second arrives, then hands each connection the other's. Both must fail, and
 * the server take neither (unless `noneAccepted` is false: a frame after its READY).
 */
async function swapped(t: import('ava').ExecutionContext, direction: 'toServer' | 'toClient', index: number, noneAccepted = true): Promise<PromiseSettledResult<unknown>[]> {
  const listener = await world.listen();
  let first: { payload: Uint8Array; forward(p: Uint8Array): void } | null = null;
  const proxy = await startProxy(listener.address().port, (payload, ctx) => {
    if (ctx.direction !== direction || ctx.index !== index) return;
    if (!first) {
      first = { payload, forward: ctx.forward };
      return [];
    }
    first.forward(payload);
    return [first.payload];
  });
  t.teardown(() => proxy.close());
  const options = { vault: world.clientVault, serverKey: listener.publicKey, timeout: 10_000 };
  const results = await Promise.allSettled([connect('127.0.0.1', proxy.port, options), connect('127.0.0.1', proxy.port, options)]);
  if (noneAccepted) t.is(listener.stats.accepted, 0);
  return results;
}

test.serial('Cookies swapped between two connections are refused by both clients', async (t) => {
  for (const r of await swapped(t, 'toClient', 0)) {
    t.is(r.status, 'rejected');
    t.is((r as PromiseRejectedResult).reason.code, 'EAUTH');
  }
});

test.serial('Initiates swapped between two connections are refused (the cookie names its connection\'s EC): nothing accepted', async (t) => {
  for (const r of await swapped(t, 'toServer', 1)) t.is(r.status, 'rejected');
});

test.serial('a tampered Initiate (cookie or box) closes without a word: EHANDSHAKE, nothing accepted', async (t) => {
  for (const at of [8, 8 + 100, V2_INITIATE.box, V2_INITIATE.box + 50, V2_INITIATE.end - 1]) {
    const result = await throughProxy((payload, ctx) => (ctx.direction === 'toServer' && ctx.index === 1 ? [flip(payload, at)] : undefined));
    t.is(result.error?.code, 'EHANDSHAKE', `byte ${at}`);
    t.is(result.accepted, 0);
    t.true(result.failures.every((e) => e.code === 'EAUTH'));
  }
});

test.serial('a replayed Initiate (and the data after it) is refused: no connection, no data', async (t) => {
  const listener = await world.listen();
  const proxy = await startProxy(listener.address().port);
  t.teardown(() => proxy.close());
  const accepted = listener.accept({ timeout: 10_000 });
  const client = await connect('127.0.0.1', proxy.port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 10_000 });
  const server = await accepted;
  await client.send('pay 100');
  t.is(Buffer.from(await server.recv({ timeout: 10_000 })).toString(), 'pay 100');
  await client.close();
  await server.close();
  // Hello, Initiate, the one DATA (the server read it before anything else was sent), then the END
  // that close() sends in v2 — which may or may not have passed the proxy yet. Replay the first three.
  const all = proxy.captured[0]!.toServer;
  t.true(all.length === 3 || all.length === 4, `Hello, Initiate, one DATA and maybe the END: ${all.length} frames`);
  const recorded = all.slice(0, 3);
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  const before = listener.stats.accepted;
  // The whole client stream again on a fresh connection: the server answers the Hello with a new
  // Cookie, then meets the old Initiate.
  const raw = await replay(listener.address().port, recorded);
  const closed = new Promise((resolve) => raw.once('close', resolve));
  raw.on('error', () => undefined);
  // Read what comes back (a Cookie, then the REJECT the real client would have been sent): a
  // paused socket never sees the server's FIN, and the server waits for ours.
  raw.resume();
  await within(closed, 60_000, 'the server closing the replayed connection');
  t.is(listener.stats.accepted, before);
  t.true(failures.some((e) => e.code === 'EAUTH' && /already used: a replayed Initiate/.test(e.message)), failures.map((e) => e.message).join('; '));
});

test.serial("a vouch made with only the server's long-term secret (its theft) cannot log in as a registered client", async (t) => {
  // The thief holds Ss and the victim's public key C, which the registry allows. v1's vouch key is
  // beforenm(S, Cs) = beforenm(C, Ss), so the thief could forge a v1 vouch; v2 boxes the vouch to
  // the server's ephemeral key, which the thief cannot reach from Ss.
  const stolen = loadSecretKeyFile(join(world.dir, 'server.key')).secretKey;
  const victim = world.clientVault.publicKey;
  const thief: Vault = {
    ...world.clientVault,
    publicKey: victim,
    open: () => Promise.reject(new Error('unused')),
    seal: () => Promise.reject(new Error('unused')),
    openHelloV2: () => Promise.reject(new Error('unused')),
    async sealVouchV2(request) {
      const { encodeVouchPlaintextV2, V2_PREFIX_VOUCH } = await import('../lib/protocol/v2/index.js');
      const { longTermNonce } = await import('../lib/protocol/index.js');
      const nonce16 = nacl.randomBytes(16);
      // Every key the thief can make: with Ss and C, with Ss and ES.
      const key = request.serverEphemeralKey[0]! & 1 ? nacl.beforenm(victim, stolen) : nacl.beforenm(request.serverEphemeralKey, stolen);
      const plaintext = encodeVouchPlaintextV2(request.clientEphemeralKey, request.serverKey, request.transcript);
      return { nonce16, box: nacl.secretbox(plaintext, longTermNonce(V2_PREFIX_VOUCH, nonce16), key) };
    },
    close: async () => undefined,
  };
  for (let i = 0; i < 4; i++) {
    const result = await throughProxy(() => undefined, { vault: thief });
    t.is(result.error?.code, 'EHANDSHAKE', 'refused before any word: the vouch did not verify');
    t.is(result.accepted, 0);
    t.true(result.failures.some((e) => /vouch/.test(e.message)));
  }
});

test.serial('a genuine vouch for another handshake is refused', async (t) => {
  // A client-side component that has the vault vouch for values of another connection: the
  // vault's box is real, made with the client's key, but binds another EC and h2.
  const listener = await world.listen();
  let previous: VouchV2Request | null = null;
  const confused: Vault = {
    ...world.clientVault,
    publicKey: world.clientVault.publicKey,
    open: (...a) => world.clientVault.open(...a),
    seal: (...a) => world.clientVault.seal(...a),
    openHelloV2: (r) => world.clientVault.openHelloV2!(r),
    async sealVouchV2(request) {
      const use = previous ? { ...request, clientEphemeralKey: previous.clientEphemeralKey, transcript: previous.transcript } : request;
      previous ??= request;
      return world.clientVault.sealVouchV2!(use);
    },
    close: async () => undefined,
  };
  const first = await throughProxy(() => undefined, { vault: confused, listener });
  t.is(first.error, null, 'the first connection vouches for itself');
  const second = await throughProxy(() => undefined, { vault: confused, listener });
  t.is(second.error?.code, 'EHANDSHAKE');
  t.true(second.failures.some((e) => /another handshake/.test(e.message)));
});

test.serial("a REJECT probe with a registered key and a junk vouch learns nothing: silent close, EHANDSHAKE not EAUTH", async (t) => {
  const probe: Vault = {
    ...world.clientVault,
    publicKey: world.clientVault.publicKey, // registered
    open: () => Promise.reject(new Error('unused')),
    seal: () => Promise.reject(new Error('unused')),
    openHelloV2: () => Promise.reject(new Error('unused')),
    sealVouchV2: async () => ({ nonce16: nacl.randomBytes(16), box: nacl.randomBytes(128) }),
    close: async () => undefined,
  };
  const result = await throughProxy(() => undefined, { vault: probe });
  t.is(result.error?.code, 'EHANDSHAKE');
  t.false(result.error instanceof RejectedError);
  t.is(result.proxy.captured[0]!.toClient.length, 1, 'only the Cookie came back: no REJECT');
});

test.serial('low-order X25519 keys are refused: EC in the Hello (server), ES in a re-sealed Cookie (client)', async (t) => {
  const listener = await world.listen();
  const failures: CurvetunError[] = [];
  listener.on('handshakeError', (e) => failures.push(e));
  // A Hello whose EC is a point of order 1: X(Ss, EC) is all zero.
  const lowOrder = new Uint8Array(32);
  lowOrder[0] = 1;
  const hello = encodeHelloV2({ suite: SUITE_CLASSICAL, clientEphemeralKey: lowOrder, encapsulationKey: new Uint8Array(0), box: nacl.randomBytes(16) });
  const raw = await replay(listener.address().port, [hello]);
  raw.on('error', () => undefined);
  await new Promise((resolve) => raw.once('close', resolve));
  t.true(failures.some((e) => e.code === 'EAUTH' && /low-order/.test(e.message)), failures.map((e) => e.message).join('; '));

  // A man in the middle who holds Ss re-seals the Cookie with a low-order ES: the client refuses.
  const stolen = loadSecretKeyFile(join(world.dir, 'server.key')).secretKey;
  let ck1: Uint8Array | null = null;
  const result = await throughProxy(
    (payload, ctx) => {
      if (ctx.direction === 'toServer' && ctx.index === 0) {
        const h = decodeHelloV2(payload);
        const h0 = initialHash(h.suite, listener.publicKey);
        ck1 = chainHello(h0, nacl.scalarMult(stolen, h.clientEphemeralKey), helloHash(h0, helloTranscriptPart(payload, h.suite)));
        return;
      }
      if (ctx.direction !== 'toClient' || ctx.index !== 0) return;
      const packet = decodeCookieV2(payload, SUITE_CLASSICAL);
      const inner = nacl.secretboxOpen(packet.box, packet.nonce24, cookieBoxKey(ck1!))!;
      const fields = decodeCookieBoxV2(SUITE_CLASSICAL, inner);
      const box = nacl.secretbox(encodeCookieBoxV2(SUITE_CLASSICAL, { ...fields, serverEphemeralKey: lowOrder }), packet.nonce24, cookieBoxKey(ck1!));
      return [encodeCookieV2(SUITE_CLASSICAL, { nonce24: packet.nonce24, box })];
    },
    { postQuantum: false, listener },
  );
  t.is(result.error?.code, 'EAUTH');
  t.regex(result.error!.message, /low-order/);
});

test.serial('a tampered, truncated or foreign READY is refused by the client: EAUTH, not connected, not a REJECT', async (t) => {
  // The server has already taken the connection when it sends READY; the client must not.
  for (const at of [0, 20, 52]) {
    const result = await throughProxy((payload, ctx) => (ctx.direction === 'toClient' && ctx.index === 1 ? [flip(payload, at)] : undefined));
    t.is(result.error?.code, 'EAUTH', `byte ${at}`);
    t.false(result.error instanceof RejectedError);
  }
  for (const length of [1, 16, 17, 52]) {
    const result = await throughProxy((payload, ctx) => (ctx.direction === 'toClient' && ctx.index === 1 ? [payload.subarray(0, length)] : undefined));
    t.is(result.error?.code, 'EAUTH', `${length} bytes`);
  }
  // A genuine REJECT of another connection (a stranger's, refused by the registry) in place of READY.
  const listener = await world.listen();
  const stranger = await world.newVault('mitm-stranger');
  const rejected = await throughProxy(() => undefined, { vault: stranger, listener });
  t.true(rejected.error instanceof RejectedError, 'the stranger is refused with a REJECT');
  const reject = rejected.proxy.captured[0]!.toClient[1]!;
  const result = await throughProxy((payload, ctx) => (ctx.direction === 'toClient' && ctx.index === 1 ? [reject] : undefined), { listener });
  t.is(result.error?.code, 'EAUTH');
  t.false(result.error instanceof RejectedError, 'a REJECT sealed for another connection is not believed');
});

test.serial('READYs swapped between two connections are refused by both clients: EAUTH', async (t) => {
  // The server has taken both connections by the time it sends READY; neither client may.
  for (const r of await swapped(t, 'toClient', 1, false)) {
    t.is(r.status, 'rejected');
    t.is((r as PromiseRejectedResult).reason.code, 'EAUTH');
  }
});
