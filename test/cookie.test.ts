/**
 * The cookie keeper in its real worker with short periods: rotation, the two-period lifetime,
 * the replay guard, tampering, and a full guard that refuses instead of forgetting.
 */
import test from 'ava';
import { startCookieKeeper } from '../lib/cookie/index.js';
import type { WorkerCookieKeeper } from '../lib/cookie/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';

const backend = getBackend('tweetnacl');
const PERIOD = 400;

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (!(error instanceof CurvetunError)) throw error;
    return error.code;
  }
}

/** A keeper with a long period unless the test is about rotation. */
async function keeper(t: { teardown(fn: () => unknown): void }, options = {}): Promise<WorkerCookieKeeper> {
  const k = await startCookieKeeper({ periodMs: 60_000, ...options });
  t.teardown(() => k.close());
  return k;
}

test('a cookie opens to what was sealed, once', async (t) => {
  const k = await keeper(t);
  const ec = backend.randomBytes(32);
  const ess = backend.randomBytes(32);
  const cookie = await k.seal(ec, ess);
  t.is(cookie.length, 96);
  const opened = await k.open(cookie);
  t.deepEqual(opened.clientEphemeralPublicKey, ec);
  t.deepEqual(opened.serverEphemeralSecretKey, ess);
  const again = await t.throwsAsync(k.open(cookie), { instanceOf: CurvetunError });
  t.is(again!.code, 'EAUTH');
  t.regex(again!.message, /already used|replay/);
  t.is((await k.stats()).refusedReplay, 1);
});

test.serial('a cookie from the previous period opens; one from two periods ago does not', async (t) => {
  const k = await keeper(t, { periodMs: PERIOD });
  /** Wait until the keeper has rotated `count` more times (polled, bounded). */
  const rotations = async (count: number) => {
    const start = (await k.stats()).rotations;
    for (let i = 0; i < 100 && (await k.stats()).rotations < start + count; i++) await sleep(PERIOD / 20);
  };
  await rotations(1); // start right after a rotation, so the steps below have a whole period each
  const previous = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
  const older = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
  await rotations(1); // the sealing key is now the previous one
  t.is(await code(k.open(previous)), 'ok');
  await rotations(1); // a second rotation: that key is gone
  t.is(await code(k.open(older)), 'EAUTH');
});

test('any flipped byte of a cookie is refused', async (t) => {
  const k = await keeper(t);
  const cookie = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
  for (let i = 0; i < 96; i += 5) {
    const bad = new Uint8Array(cookie);
    bad[i]! ^= 0x01;
    t.is(await code(k.open(bad)), 'EAUTH', `byte ${i}`);
  }
  t.is(await code(k.open(cookie)), 'ok'); // the real one still opens after all that
});

test('wrong sizes are EINVAL and the keeper keeps serving', async (t) => {
  const k = await keeper(t);
  t.is(await code(k.open(new Uint8Array(95))), 'EINVAL');
  t.is(await code(k.seal(new Uint8Array(31), new Uint8Array(32))), 'EINVAL');
  t.is(await code(k.open(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
});

test('a full replay guard refuses new handshakes (EBUSY) rather than forgetting a cookie', async (t) => {
  const k = await keeper(t, { guardSize: 3, periodMs: 60_000 });
  const cookies = await Promise.all(Array.from({ length: 5 }, () => k.seal(backend.randomBytes(32), backend.randomBytes(32))));
  for (const c of cookies.slice(0, 3)) t.is(await code(k.open(c)), 'ok');
  t.is(await code(k.open(cookies[3]!)), 'EBUSY');
  // The remembered cookies are still refused: nothing was evicted to make room.
  for (const c of cookies.slice(0, 3)) t.is(await code(k.open(c)), 'EAUTH');
  const stats = await k.stats();
  t.is(stats.refusedGuardFull, 1);
  t.is(stats.remembered, 3);
});

test.serial('the guard frees its entries when their key expires', async (t) => {
  const k = await keeper(t, { guardSize: 2, periodMs: PERIOD });
  for (let i = 0; i < 2; i++) t.is(await code(k.open(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
  t.is(await code(k.open(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'EBUSY');
  await sleep(PERIOD * 2.5);
  t.is(await code(k.open(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
});
