/**
 * One contract, every vault adapter: WorkerVault (a real worker), LocalVault, SodiumVault. Real
 * key files in a temp directory, real crypto on the other side.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { PREFIX_COOKIE, PREFIX_VOUCH, longTermNonce } from '../lib/protocol/index.js';
import {
  V2_NONCE_HELLO,
  V2_PREFIX_COOKIE,
  V2_PREFIX_VOUCH,
  V2_VOUCH_PURPOSE,
  chainHello,
  encodeVouchPlaintextV2,
  helloBoxKey,
  initialHash,
  transcriptHash,
} from '../lib/protocol/v2/index.js';
import { LocalVault, SodiumVault, WorkerVault } from '../lib/vault/index.js';
import type { Vault } from '../lib/vault/types.js';
import { counterOf, scrambleKeyOf } from './helpers/nonces.js';

/** Every adapter here offers the optional safeNonce, which this contract checks. */
type NonceVault = Vault & Required<Pick<Vault, 'openHelloV2' | 'sealVouchV2'>> & { safeNonce(): Promise<Uint8Array>; safeNonces?(n: number): Promise<Uint8Array[]> };

interface Adapter {
  name: string;
  open(file: string): Promise<NonceVault>;
}

const adapters: Adapter[] = [
  { name: 'WorkerVault', open: (file) => WorkerVault.open({ secretKeyFile: file, create: true, counterBlock: 4096 }) },
  { name: 'LocalVault', open: (file) => LocalVault.open({ secretKeyFile: file, create: true, counterBlock: 4096 }) },
];
if (SodiumVault.available()) {
  adapters.push({ name: 'SodiumVault', open: (file) => SodiumVault.open({ secretKeyFile: file, create: true, counterBlock: 4096 }) });
} else {
  // The only reason to skip: the optional dependency is not installed here.
  test.skip('SodiumVault: skipped because the optional dependency sodium-native is not installed', () => undefined);
}

const backend = getBackend('tweetnacl'); // the independent other side
const dir = mkdtempSync(join(tmpdir(), 'curvetun-vault-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function nonces(vault: NonceVault, count: number): Promise<Uint8Array[]> {
  if (vault.safeNonces) return vault.safeNonces(count);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(await vault.safeNonce());
  return out;
}

/** What a v2 client computes for its Hello, independently of any vault (the transcript and ck1). */
function v2Hello(serverKey: Uint8Array, suite: 1 | 2) {
  const ephemeral = backend.keyPair();
  const h0 = initialHash(suite, serverKey);
  const h1 = transcriptHash(h0, backend.randomBytes(40)); // any public bytes stand for the Hello here
  const ck1 = chainHello(h0, backend.scalarMult(ephemeral.secretKey, serverKey), h1);
  const box = backend.secretbox(new Uint8Array(0), V2_NONCE_HELLO, helloBoxKey(ck1));
  return { ephemeral, h1, ck1, box, request: { suite, clientEphemeralKey: ephemeral.publicKey, transcript: h1, box } };
}

for (const adapter of adapters) {
  test(`${adapter.name}: openHelloV2 returns the chaining key the client holds, only for a Hello box that opens`, async (t) => {
    const file = join(dir, `${adapter.name}-hello-v2`);
    const vault = await adapter.open(file);
    t.teardown(() => vault.close());
    for (const suite of [1, 2] as const) {
      const hello = v2Hello(vault.publicKey, suite);
      t.deepEqual((await vault.openHelloV2(hello.request)).chainingKey, hello.ck1);
      const refusals = [
        { ...hello.request, box: hello.box.map((b, i) => (i === 3 ? b ^ 1 : b)) }, // forged box
        { ...hello.request, suite: suite === 1 ? 2 : 1 }, // another suite: another protocol name in h0
        { ...hello.request, transcript: backend.randomBytes(32) }, // another Hello
        { ...hello.request, clientEphemeralKey: backend.keyPair().publicKey }, // another client
        { ...hello.request, clientEphemeralKey: new Uint8Array(32) }, // low order: X(Ss, EC) = 0
      ];
      for (const request of refusals) {
        const e = await t.throwsAsync(vault.openHelloV2(request), { instanceOf: CurvetunError });
        t.is(e!.code, 'EAUTH');
        t.false(/[0-9a-f]{64}/i.test(e!.message));
      }
    }
    for (const bad of [{ suite: 3 }, { suite: '2' }, { transcript: new Uint8Array(31) }, { box: new Uint8Array(17) }, { clientEphemeralKey: 'x' }]) {
      const e = await t.throwsAsync(vault.openHelloV2({ ...v2Hello(vault.publicKey, 2).request, ...(bad as object) }), { instanceOf: CurvetunError });
      t.is(e!.code, 'EINVAL', JSON.stringify(bad));
    }
  });

  test(`${adapter.name}: sealVouchV2 boxes purpose · EC · S · h2 to ES under a fresh safe nonce; nothing a caller passes makes a v1 vouch or another box`, async (t) => {
    const file = join(dir, `${adapter.name}-vouch-v2`);
    const vault = await adapter.open(file);
    t.teardown(() => vault.close());
    const server = backend.keyPair();
    const serverEphemeral = backend.keyPair();
    const ec = backend.keyPair().publicKey;
    const h2 = backend.randomBytes(32);
    const request = { serverEphemeralKey: serverEphemeral.publicKey, clientEphemeralKey: ec, serverKey: server.publicKey, transcript: h2 };
    const first = await vault.sealVouchV2(request);
    const second = await vault.sealVouchV2(request);
    const scramble = scrambleKeyOf(file);
    t.true(counterOf(second.nonce16, scramble) > counterOf(first.nonce16, scramble), 'a new safe nonce each time');
    t.is(first.box.length, 128);
    // The server opens it with its ephemeral secret and the client's public key.
    const opened = backend.boxOpen(first.box, longTermNonce(V2_PREFIX_VOUCH, first.nonce16), vault.publicKey, serverEphemeral.secretKey);
    t.deepEqual(opened, encodeVouchPlaintextV2(ec, server.publicKey, h2));
    t.deepEqual(opened!.subarray(0, 16), V2_VOUCH_PURPOSE);
    // Purpose-specific: even with the server's long-term key where ES goes, the box is no v1 vouch
    // (box(EC, "CurveCPV" · v16, beforenm(S, Cs))) and opens as nothing but a v2 vouch.
    const aimed = await vault.sealVouchV2({ ...request, serverEphemeralKey: server.publicKey });
    t.is(backend.boxOpen(aimed.box, longTermNonce(PREFIX_VOUCH, aimed.nonce16), vault.publicKey, server.secretKey), null, 'not a v1 vouch');
    t.is(backend.boxOpen(aimed.box.subarray(0, 48), longTermNonce(PREFIX_VOUCH, aimed.nonce16), vault.publicKey, server.secretKey), null);
    t.deepEqual(backend.boxOpen(aimed.box, longTermNonce(V2_PREFIX_VOUCH, aimed.nonce16), vault.publicKey, server.secretKey)!.subarray(0, 16), V2_VOUCH_PURPOSE);
    // And v1's generic seal refuses the v2 prefixes, so it cannot make a v2 vouch or cookie either.
    for (const prefix of [V2_PREFIX_VOUCH, V2_PREFIX_COOKIE]) {
      const e = await t.throwsAsync(vault.seal(encodeVouchPlaintextV2(ec, server.publicKey, h2), prefix, serverEphemeral.publicKey), { instanceOf: CurvetunError });
      t.is(e!.code, 'EINVAL');
    }
    const low = await t.throwsAsync(vault.sealVouchV2({ ...request, serverEphemeralKey: new Uint8Array(32) }), { instanceOf: CurvetunError });
    t.is(low!.code, 'EAUTH');
    for (const bad of [{ transcript: new Uint8Array(16) }, { serverKey: null }, { clientEphemeralKey: new Uint8Array(33) }]) {
      const e = await t.throwsAsync(vault.sealVouchV2({ ...request, ...(bad as object) }), { instanceOf: CurvetunError });
      t.is(e!.code, 'EINVAL', JSON.stringify(bad));
    }
  });

  test(`${adapter.name}: seal and open agree with the crypto backend in both directions`, async (t) => {
    const file = join(dir, `${adapter.name}-agree`);
    const vault = await adapter.open(file);
    t.teardown(() => vault.close());
    const peer = backend.keyPair();
    const message = backend.randomBytes(100);

    const sealed = await vault.seal(message, PREFIX_VOUCH, peer.publicKey);
    t.is(sealed.nonce16.length, 16);
    t.deepEqual(backend.boxOpen(sealed.box, longTermNonce(PREFIX_VOUCH, sealed.nonce16), vault.publicKey, peer.secretKey), message);

    const nonce = backend.randomBytes(24);
    const box = backend.box(message, nonce, vault.publicKey, peer.secretKey);
    t.deepEqual(await vault.open(box, nonce, peer.publicKey), message);
  });

  test(`${adapter.name}: openHello gives the Hello's plaintext, the key the client holds and a fresh safe nonce; a box that does not open gives no key`, async (t) => {
    const file = join(dir, `${adapter.name}-hello`);
    const vault = await adapter.open(file);
    t.teardown(() => vault.close());
    t.truthy(vault.openHello, 'every adapter here has the one-round-trip Hello');
    const ephemeral = backend.keyPair();
    const clientKey = backend.beforenm(vault.publicKey, ephemeral.secretKey); // what the client computes
    const nonce = backend.randomBytes(24);
    const zeros = new Uint8Array(64);
    const box = backend.secretbox(zeros, nonce, clientKey);
    const first = await vault.openHello!(box, nonce, ephemeral.publicKey);
    t.deepEqual(first.plaintext, zeros);
    t.deepEqual(first.sharedKey, clientKey);
    const second = await vault.openHello!(box, nonce, ephemeral.publicKey);
    const scramble = scrambleKeyOf(file);
    t.true(counterOf(second.nonce16, scramble) > counterOf(first.nonce16, scramble), 'a new safe nonce each time');
    // A Cookie box sealed with what came back opens on the client's side.
    const cookieBox = backend.secretbox(backend.randomBytes(128), longTermNonce(PREFIX_COOKIE, first.nonce16), first.sharedKey);
    t.truthy(backend.secretboxOpen(cookieBox, longTermNonce(PREFIX_COOKIE, first.nonce16), clientKey));
    // Someone who does not hold the key (a forged box, or another client's ephemeral key) gets nothing.
    const forged = box.slice();
    forged[20]! ^= 1;
    const refused = await t.throwsAsync(vault.openHello!(forged, nonce, ephemeral.publicKey), { instanceOf: CurvetunError });
    t.is(refused!.code, 'EAUTH');
    const stranger = await t.throwsAsync(vault.openHello!(box, nonce, backend.keyPair().publicKey), { instanceOf: CurvetunError });
    t.is(stranger!.code, 'EAUTH');
    t.false(/[0-9a-f]{64}/i.test(refused!.message + stranger!.message), 'no key bytes in the errors');
    const bad = await t.throwsAsync(vault.openHello!(box, nonce.subarray(0, 10), ephemeral.publicKey), { instanceOf: CurvetunError });
    t.is(bad!.code, 'EINVAL');
  });

  test(`${adapter.name}: 100 000 safe nonces, no repeat, counters strictly increasing`, async (t) => {
    t.timeout(120_000);
    const file = join(dir, `${adapter.name}-many`);
    const vault = await adapter.open(file);
    t.teardown(() => vault.close());
    const all = await nonces(vault, 100_000);
    t.is(new Set(all.map((n) => Buffer.from(n).toString('hex'))).size, 100_000);
    const key = scrambleKeyOf(file);
    let last = -1;
    let increasing = true;
    for (const n of all) {
      const c = counterOf(n, key);
      if (c <= last) increasing = false;
      last = c;
    }
    t.true(increasing);
  });

  test(`${adapter.name}: counters survive a restart and only go up`, async (t) => {
    const file = join(dir, `${adapter.name}-restart`);
    const key = async () => scrambleKeyOf(file);
    const first = await adapter.open(file);
    const before = await nonces(first, 50);
    await first.close();
    const second = await adapter.open(file);
    t.teardown(() => second.close());
    const after = await nonces(second, 50);
    const k = await key();
    const maxBefore = Math.max(...before.map((n) => counterOf(n, k)));
    const minAfter = Math.min(...after.map((n) => counterOf(n, k)));
    t.true(minAfter > maxBefore, `${minAfter} > ${maxBefore}`);
    t.deepEqual(second.publicKey, first.publicKey);
  });

  test(`${adapter.name}: wrong sizes are EINVAL, garbage boxes EAUTH, and the vault keeps serving`, async (t) => {
    const file = join(dir, `${adapter.name}-bad`);
    const vault = await adapter.open(file);
    t.teardown(() => vault.close());
    const peer = backend.keyPair();
    const code = async (p: Promise<unknown>) => ((await t.throwsAsync(p, { instanceOf: CurvetunError })) as CurvetunError).code;
    t.is(await code(vault.open(new Uint8Array(40), new Uint8Array(23), peer.publicKey)), 'EINVAL');
    t.is(await code(vault.open(new Uint8Array(40), new Uint8Array(24), new Uint8Array(31))), 'EINVAL');
    t.is(await code(vault.seal(new Uint8Array(10), new Uint8Array(7), peer.publicKey)), 'EINVAL');
    t.is(await code(vault.seal(new Uint8Array(10), PREFIX_COOKIE, new Uint8Array(33))), 'EINVAL');
    t.is(await code(vault.open(backend.randomBytes(64), backend.randomBytes(24), peer.publicKey)), 'EAUTH');
    t.is(await code(vault.open(new Uint8Array(3), backend.randomBytes(24), peer.publicKey)), 'EAUTH');
    // A box for someone else does not open either.
    const other = backend.keyPair();
    const nonce = backend.randomBytes(24);
    t.is(await code(vault.open(backend.box(new Uint8Array(5), nonce, other.publicKey, peer.secretKey), nonce, peer.publicKey)), 'EAUTH');
    // Still serving.
    const sealed = await vault.seal(new Uint8Array([1, 2, 3]), PREFIX_COOKIE, peer.publicKey);
    t.deepEqual(backend.boxOpen(sealed.box, longTermNonce(PREFIX_COOKIE, sealed.nonce16), vault.publicKey, peer.secretKey), new Uint8Array([1, 2, 3]));
  });

  test(`${adapter.name}: a secret key file readable by others is refused with EKEY, and the error holds no key`, async (t) => {
    const file = join(dir, `${adapter.name}-perm`);
    const vault = await adapter.open(file);
    await vault.close();
    chmodSync(file, 0o644);
    const error = await t.throwsAsync(adapter.open(file), { instanceOf: CurvetunError });
    t.is(error!.code, 'EKEY');
    t.regex(error!.message, /chmod 600/);
    const { readFileSync } = await import('node:fs');
    const body = readFileSync(file, 'utf8').split('\n')[2]!;
    t.false(error!.message.includes(body.slice(0, 20)));
  });

  test(`${adapter.name}: after close() every call is ECLOSED`, async (t) => {
    const vault = await adapter.open(join(dir, `${adapter.name}-closed`));
    await vault.close();
    const error = await t.throwsAsync(vault.safeNonce(), { instanceOf: CurvetunError });
    t.is(error!.code, 'ECLOSED');
  });
}
