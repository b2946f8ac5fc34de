/**
 * The cookie keeper in its real worker with short periods: rotation, the two-period lifetime,
 * the replay guard (open remembers nothing, admit checks and inserts at once), tampering, and a
 * full guard that refuses instead of forgetting; the contract tests run on both keepers, for v1
 * and v2 cookies (one guard, one `admit`, cookies never crossing versions).
 */
import test from 'ava';
import { CookieCore, LocalCookieKeeper, startCookieKeeper } from '../lib/cookie/index.js';
import type { ObservableCookieKeeper, WorkerCookieKeeper } from '../lib/cookie/index.js';
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

/** Both keepers (the worker and the in-process one) must follow the same contract. */
const keepers: [string, (t: { teardown(fn: () => unknown): void }, options?: object) => Promise<ObservableCookieKeeper>][] = [
  ['WorkerCookieKeeper', (t, options = {}) => keeper(t, options)],
  [
    'LocalCookieKeeper',
    async (t, options = {}) => {
      const k = new LocalCookieKeeper({ crypto: 'tweetnacl', periodMs: 60_000, ...options });
      t.teardown(() => k.close());
      return k;
    },
  ],
];

for (const [name, make] of keepers) {
  test(`${name}: open gives what was sealed and remembers nothing; admit remembers it once`, async (t) => {
    const k = await make(t);
    const ec = backend.randomBytes(32);
    const ess = backend.randomBytes(32);
    const cookie = await k.seal(ec, ess);
    t.is(cookie.length, 96);
    for (let i = 0; i < 3; i++) {
      const opened = await k.open(cookie);
      t.deepEqual(opened.clientEphemeralPublicKey, ec);
      t.deepEqual(opened.serverEphemeralSecretKey, ess);
    }
    t.is((await k.stats()).remembered, 0, 'opening alone fills nothing');
    t.is(await code(k.admit(cookie)), 'ok');
    const again = await t.throwsAsync(k.admit(cookie), { instanceOf: CurvetunError });
    t.is(again!.code, 'EAUTH');
    t.regex(again!.message, /already used|replay/);
    // Once admitted, a replayed Vouch already fails at open.
    t.is(await code(k.open(cookie)), 'EAUTH');
    const stats = await k.stats();
    t.like(stats, { remembered: 1, opened: 3, admitted: 1, refusedReplay: 2 });
  });

  test(`${name}: admit is check-and-insert: of many racing admits of one cookie exactly one wins`, async (t) => {
    const k = await make(t);
    const cookie = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
    const results = await Promise.all(Array.from({ length: 20 }, () => code(k.admit(cookie))));
    t.is(results.filter((r) => r === 'ok').length, 1);
    t.is(results.filter((r) => r === 'EAUTH').length, 19);
  });

  test(`${name}: a forged, tampered or foreign cookie is EAUTH at admit too, and remembers nothing`, async (t) => {
    const k = await make(t);
    const other = await make(t);
    const cookie = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
    const tampered = new Uint8Array(cookie);
    tampered[40]! ^= 1;
    t.is(await code(k.admit(tampered)), 'EAUTH');
    t.is(await code(k.admit(await other.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'EAUTH');
    t.is(await code(k.admit(backend.randomBytes(96))), 'EAUTH');
    t.is(await code(k.admit(new Uint8Array(95))), 'EINVAL');
    t.is((await k.stats()).remembered, 0);
    t.is(await code(k.admit(cookie)), 'ok');
  });

  test(`${name}: a full replay guard refuses new handshakes (EBUSY) rather than forgetting a cookie`, async (t) => {
    const k = await make(t, { guardSize: 3 });
    const cookies = await Promise.all(Array.from({ length: 5 }, () => k.seal(backend.randomBytes(32), backend.randomBytes(32))));
    for (const c of cookies.slice(0, 3)) t.is(await code(k.admit(c)), 'ok');
    t.is(await code(k.open(cookies[3]!)), 'ok', 'opening needs no room');
    t.is(await code(k.admit(cookies[3]!)), 'EBUSY');
    // The remembered cookies are still refused: nothing was evicted to make room.
    for (const c of cookies.slice(0, 3)) t.is(await code(k.admit(c)), 'EAUTH');
    const stats = await k.stats();
    t.is(stats.refusedGuardFull, 1);
    t.is(stats.remembered, 3);
  });
}

const v2Secrets = () => ({
  clientEphemeralKey: backend.randomBytes(32),
  serverEphemeralSecretKey: backend.randomBytes(32),
  chainingKey: backend.randomBytes(32),
  transcript: backend.randomBytes(32),
});

for (const [name, make] of keepers) {
  test(`${name}: v2: openV2 gives what sealV2 sealed and remembers nothing; admit remembers it once`, async (t) => {
    const k = await make(t);
    const secrets = v2Secrets();
    const cookie = await k.sealV2(secrets);
    t.is(cookie.length, 168);
    for (let i = 0; i < 3; i++) t.deepEqual(await k.openV2(cookie), secrets);
    t.is((await k.stats()).remembered, 0, 'opening alone fills nothing');
    t.is(await code(k.admit(cookie)), 'ok');
    const again = await t.throwsAsync(k.admit(cookie), { instanceOf: CurvetunError });
    t.is(again!.code, 'EAUTH');
    t.regex(again!.message, /already used: a replayed Initiate/);
    // Once admitted, a replayed Initiate already fails at openV2.
    const atOpen = await t.throwsAsync(k.openV2(cookie), { instanceOf: CurvetunError });
    t.is(atOpen!.code, 'EAUTH');
    t.regex(atOpen!.message, /already used/);
    t.like(await k.stats(), { remembered: 1, opened: 3, admitted: 1, refusedReplay: 2 });
  });

  test(`${name}: v2: admit is check-and-insert: of many racing admits of one cookie exactly one wins`, async (t) => {
    const k = await make(t);
    const cookie = await k.sealV2(v2Secrets());
    const results = await Promise.all(Array.from({ length: 20 }, () => code(k.admit(cookie))));
    t.is(results.filter((r) => r === 'ok').length, 1);
    t.is(results.filter((r) => r === 'EAUTH').length, 19);
  });

  test(`${name}: v2: a forged, tampered or foreign cookie is EAUTH at admit too and remembers nothing; no cookie crosses versions`, async (t) => {
    const k = await make(t);
    const other = await make(t);
    const cookie = await k.sealV2(v2Secrets());
    const tampered = new Uint8Array(cookie);
    tampered[100]! ^= 1;
    t.is(await code(k.admit(tampered)), 'EAUTH');
    t.is(await code(k.openV2(tampered)), 'EAUTH');
    t.is(await code(k.admit(await other.sealV2(v2Secrets()))), 'EAUTH');
    t.is(await code(k.admit(backend.randomBytes(168))), 'EAUTH');
    t.is(await code(k.admit(new Uint8Array(167))), 'EINVAL');
    // A v1 cookie is not a v2 one (nor the reverse), and admitting one never admits the other.
    const v1 = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
    t.is(await code(k.openV2(v1)), 'EINVAL');
    t.is(await code(k.open(cookie)), 'EINVAL');
    t.is((await k.stats()).remembered, 0);
    t.is(await code(k.admit(v1)), 'ok');
    t.is(await code(k.admit(cookie)), 'ok');
    t.is((await k.stats()).remembered, 2);
  });
}

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

test('any flipped bit, in any byte of a cookie, is refused', async (t) => {
  const k = await keeper(t);
  const cookie = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
  for (let i = 0; i < 96; i++) {
    const bad = new Uint8Array(cookie);
    bad[i]! ^= 1 << (i % 8);
    t.is(await code(k.open(bad)), 'EAUTH', `byte ${i}`);
  }
  t.is((await k.stats()).refusedInvalid, 96);
  t.is(await code(k.open(cookie)), 'ok'); // the real one still opens after all that
});

test('a cookie sealed by another keeper (another minute key) does not open', async (t) => {
  const [a, b] = [await keeper(t), await keeper(t)];
  t.is(await code(b.open(await a.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'EAUTH');
});

test('arguments of the wrong type are EINVAL, never an untyped failure', async (t) => {
  const k = await keeper(t);
  t.is(await code(k.open('cookie' as unknown as Uint8Array)), 'EINVAL');
  t.is(await code(k.open(null as unknown as Uint8Array)), 'EINVAL');
  t.is(await code(k.seal(null as unknown as Uint8Array, null as unknown as Uint8Array)), 'EINVAL');
  t.is(await code(startCookieKeeper({ periodMs: -1 })), 'EINVAL');
  t.is(await code(startCookieKeeper({ guardSize: 0 })), 'EINVAL');
  t.is(await code(startCookieKeeper({ guardSize: 2 ** 40 })), 'EINVAL');
});

test('a restarted keeper worker has new keys: cookies sealed before the crash no longer open', async (t) => {
  const k = await keeper(t);
  const before = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
  let restarts = 0;
  k.actor.on('restart', () => restarts++);
  await k.actor.kill();
  t.is(await code(k.open(before)), 'EAUTH'); // queued until the new worker is up; fail closed
  t.is(restarts, 1);
  t.is(await code(k.open(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
});

test('stats carry counters only, no key material', async (t) => {
  const k = await keeper(t);
  const stats = await k.stats();
  t.deepEqual(Object.keys(stats).sort(), ['admitted', 'guardSize', 'opened', 'periodMs', 'refusedGuardFull', 'refusedInvalid', 'refusedReplay', 'remembered', 'rotations']);
  t.true(Object.values(stats).every((v) => typeof v === 'number'));
});

/** A clock the test moves by hand, for the core's time rules without waiting. */
function manualClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('core: key life follows the clock even when no timer ever fires', (t) => {
  const clock = manualClock();
  const core = new CookieCore(backend, { periodMs: 1000, guardSize: 16 }, clock.now);
  const early = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  const early2 = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  clock.advance(999);
  const late = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  clock.advance(1); // one period: the sealing key is now the previous one
  t.notThrows(() => core.open(early));
  clock.advance(999); // 1999 ms after the first key was made: still its second period
  t.notThrows(() => core.open(late));
  clock.advance(1); // two periods: gone
  t.is(t.throws(() => core.open(early2), { instanceOf: CurvetunError })!.code, 'EAUTH');
  t.is(core.getStats().rotations, 2);
});

test('core: a long pause (several periods) wipes both keys at once', (t) => {
  const clock = manualClock();
  const core = new CookieCore(backend, { periodMs: 1000 }, clock.now);
  const cookie = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  clock.advance(1500); // previous period: would still open...
  const fresh = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  clock.advance(5000); // ...but five periods later neither key is alive
  for (const c of [cookie, fresh]) t.is(t.throws(() => core.open(c), { instanceOf: CurvetunError })!.code, 'EAUTH');
  t.is(core.getStats().rotations, 6);
});

test('core: a guard entry lives exactly as long as the key that opened its cookie', (t) => {
  const clock = manualClock();
  const core = new CookieCore(backend, { periodMs: 1000, guardSize: 1 }, clock.now);
  const first = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  clock.advance(900);
  core.admit(first); // remembered until its key dies, 1100 ms from now
  clock.advance(100); // a new current key; the first key has one more period
  const second = core.seal(backend.randomBytes(32), backend.randomBytes(32));
  t.true(t.throws(() => core.admit(second))!.message.includes('replay guard is full'));
  clock.advance(999);
  t.is((t.throws(() => core.admit(second)) as CurvetunError).code, 'EBUSY'); // 1 ms before: still full
  t.is((t.throws(() => core.admit(first)) as CurvetunError).code, 'EAUTH'); // and still a replay
  clock.advance(1); // the first key dies now...
  t.is((t.throws(() => core.admit(first)) as CurvetunError).code, 'EAUTH');
  clock.advance(1); // ...and its entry a millisecond later (rounded up, never early)
  t.notThrows(() => core.admit(second));
  t.deepEqual(
    { full: core.getStats().refusedGuardFull, replay: core.getStats().refusedReplay },
    { full: 2, replay: 1 },
  );
});

test('LocalCookieKeeper refuses work once closed', async (t) => {
  const k = new LocalCookieKeeper({ crypto: 'tweetnacl', guardSize: 1 });
  const b = await k.seal(backend.randomBytes(32), backend.randomBytes(32));
  await k.close();
  t.is(await code(k.open(b)), 'ECLOSED');
  t.is(await code(k.admit(b)), 'ECLOSED');
  t.is(await code(k.seal(backend.randomBytes(32), backend.randomBytes(32))), 'ECLOSED');
});

test('wrong sizes are EINVAL and the keeper keeps serving', async (t) => {
  const k = await keeper(t);
  t.is(await code(k.open(new Uint8Array(95))), 'EINVAL');
  t.is(await code(k.seal(new Uint8Array(31), new Uint8Array(32))), 'EINVAL');
  t.is(await code(k.open(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
});


test.serial('the guard frees its entries when their key expires', async (t) => {
  const k = await keeper(t, { guardSize: 2, periodMs: PERIOD });
  for (let i = 0; i < 2; i++) t.is(await code(k.admit(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
  t.is(await code(k.admit(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'EBUSY');
  await sleep(PERIOD * 2.5);
  t.is(await code(k.admit(await k.seal(backend.randomBytes(32), backend.randomBytes(32)))), 'ok');
});
