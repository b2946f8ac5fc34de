/**
 * The cookie keeper's core in this thread, on a clock the test moves by hand: the option bounds,
 * what util.inspect shows, the rotation arithmetic, the wipes (a wiped key opens nothing, and an
 * all-zero key is never one that opens), the v2 cookie's own expiry, when the replay guard is
 * swept and that a refused flood never walks it. Each test was checked against the mutant of
 * `npm run mutate -- lib/cookie/core.ts` it names.
 *
 * The minute keys are learnt without a back door: the core draws them from the crypto backend it
 * is given, and this file gives it the real one wrapped so it remembers what it handed out.
 */
import { inspect } from 'node:util';
import test from 'ava';
import { CookieCore, MAX_GUARD_SIZE } from '../lib/cookie/core.js';
import { sealCookieV2 } from '../lib/cookie/v2.js';
import type { CryptoBackend } from '../lib/crypto/backend.js';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { encodeCookieContents, encodeCookieValue } from '../lib/protocol/boxes.js';
import { KEY_BYTES, PREFIX_MINUTE, SAFE_NONCE_BYTES } from '../lib/protocol/constants.js';
import { longTermNonce } from '../lib/protocol/nonce.js';
import { cookieKeyOf } from '../lib/protocol/v2/schedule.js';

const backend = getBackend('tweetnacl');
const PERIOD = 1000;
const START = 1_000_000;

/** A monotonic clock moved by hand; `reads` counts how often anyone looked at it. */
function manualClock() {
  let now = START;
  let reads = 0;
  return {
    now: () => {
      reads++;
      return now;
    },
    advance: (ms: number) => (now += ms),
    get reads() {
      return reads;
    },
  };
}

/**
 * The real backend, remembering the 32-byte random values it hands out (the core's minute keys:
 * the very arrays the core keeps and wipes, plus a copy of each) and every plaintext it opens.
 */
function recordingBackend() {
  const minuteKeys: Uint8Array[] = [];
  const minuteKeyCopies: Uint8Array[] = [];
  const opened: Uint8Array[] = [];
  const recording: CryptoBackend = Object.assign(Object.create(backend) as CryptoBackend, {
    name: backend.name,
    randomBytes: (length: number) => {
      const bytes = backend.randomBytes(length);
      if (length === KEY_BYTES) {
        minuteKeys.push(bytes);
        minuteKeyCopies.push(new Uint8Array(bytes));
      }
      return bytes;
    },
    secretboxOpen: (box: Uint8Array, nonce: Uint8Array, key: Uint8Array) => {
      const plaintext = backend.secretboxOpen(box, nonce, key);
      if (plaintext) opened.push(plaintext);
      return plaintext;
    },
  });
  return { backend: recording, minuteKeys, minuteKeyCopies, opened };
}

const isZero = (bytes: Uint8Array) => bytes.every((b) => b === 0);
const ephemeral = () => backend.randomBytes(32);
const v2Secrets = () => ({ clientEphemeralKey: ephemeral(), serverEphemeralSecretKey: ephemeral(), chainingKey: ephemeral(), transcript: ephemeral() });

/** A v1 cookie sealed as the core seals one, under a key the test chooses. */
function v1CookieUnder(key: Uint8Array): Uint8Array {
  const k16 = backend.randomBytes(SAFE_NONCE_BYTES);
  return encodeCookieValue(k16, backend.secretbox(encodeCookieContents(ephemeral(), ephemeral()), longTermNonce(PREFIX_MINUTE, k16), key));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (!(error instanceof CurvetunError)) throw error;
    return error.code;
  }
}

test('core: periodMs from 10 ms and guardSize from 1 to 2^24 are accepted; one step outside is EINVAL', (t) => {
  t.is(codeOf(() => new CookieCore(backend, { periodMs: 10 })), 'ok');
  t.is(codeOf(() => new CookieCore(backend, { guardSize: 1 })), 'ok');
  t.is(MAX_GUARD_SIZE, 2 ** 24);
  // The guard grows with use (no slot preallocated), so the largest size costs nothing up front.
  const largest = new CookieCore(backend, { guardSize: MAX_GUARD_SIZE });
  t.is(largest.getStats().guardSize, MAX_GUARD_SIZE);
  largest.destroy();
  for (const options of [{ periodMs: 9.999 }, { periodMs: 9 }, { periodMs: Number.NaN }, { periodMs: Infinity }, { guardSize: 0 }, { guardSize: 1.5 }, { guardSize: MAX_GUARD_SIZE + 1 }]) {
    t.is(codeOf(() => new CookieCore(backend, options)), 'EINVAL', JSON.stringify(options));
  }
});

test('core: util.inspect shows the class name, its period, guard size and fill, and no key bytes', (t) => {
  const recorded = recordingBackend();
  const core = new CookieCore(recorded.backend, { periodMs: PERIOD, guardSize: 16 }, manualClock().now);
  t.is(inspect(core), 'CookieCore { periodMs: 1000, guardSize: 16, remembered: 0 }');
  core.admit(core.seal(ephemeral(), ephemeral()));
  core.admit(core.sealV2(v2Secrets()));
  t.is(inspect(core), 'CookieCore { periodMs: 1000, guardSize: 16, remembered: 2 }');
  t.is(inspect({ nested: { deeper: core } }, { depth: Infinity, breakLength: Infinity }), '{ nested: { deeper: CookieCore { periodMs: 1000, guardSize: 16, remembered: 2 } } }');
  const keys = recorded.minuteKeyCopies.flatMap((key) => [key, cookieKeyOf(key)]);
  t.is(keys.length, 2);
  for (const options of [{ depth: Infinity }, { depth: Infinity, showHidden: true, maxArrayLength: Infinity, breakLength: Infinity }]) {
    const text = inspect(core, options);
    for (const key of keys) {
      const b = Buffer.from(key);
      for (const form of [b.toString('hex'), b.toString('base64'), [...b].join(', ')]) t.false(text.includes(form));
    }
  }
});

test('core: msUntilRotation counts down to the end of the current period, never below 0', (t) => {
  const clock = manualClock();
  const core = new CookieCore(backend, { periodMs: PERIOD }, clock.now);
  t.is(core.msUntilRotation(), 1000);
  clock.advance(300);
  t.is(core.msUntilRotation(), 700);
  clock.advance(699);
  t.is(core.msUntilRotation(), 1);
  clock.advance(1);
  t.is(core.msUntilRotation(), 0);
  clock.advance(250); // a late timer: the rotation is overdue, not negative time away
  t.is(core.msUntilRotation(), 0);
  core.tick(); // the new key's period began at the boundary, 250 ms ago
  t.is(core.msUntilRotation(), 750);
});

test('core: destroy wipes both keys, and afterwards every seal and open is ECLOSED (also of a cookie forged under the all-zero key)', (t) => {
  const clock = manualClock();
  const recorded = recordingBackend();
  const core = new CookieCore(recorded.backend, { periodMs: PERIOD }, clock.now);
  const older = core.seal(ephemeral(), ephemeral());
  const olderV2 = core.sealV2(v2Secrets());
  clock.advance(PERIOD); // the first key is now the previous one
  const newer = core.seal(ephemeral(), ephemeral());
  const newerV2 = core.sealV2(v2Secrets());
  core.admit(core.seal(ephemeral(), ephemeral()));
  for (const c of [older, newer]) t.is(codeOf(() => core.open(c)), 'ok');
  for (const c of [olderV2, newerV2]) t.is(codeOf(() => core.openV2(c)), 'ok');
  core.destroy();
  for (const c of [older, newer]) t.is(codeOf(() => core.open(c)), 'ECLOSED');
  for (const c of [olderV2, newerV2]) t.is(codeOf(() => core.openV2(c)), 'ECLOSED');
  const zero = new Uint8Array(32);
  t.is(codeOf(() => core.open(v1CookieUnder(zero))), 'ECLOSED');
  t.is(codeOf(() => core.openV2(sealCookieV2(backend, zero, v2Secrets(), START + 1e9))), 'ECLOSED');
  t.is(codeOf(() => core.admit(v1CookieUnder(zero))), 'ECLOSED');
  t.is(codeOf(() => core.seal(ephemeral(), ephemeral())), 'ECLOSED');
  t.is(codeOf(() => core.sealV2(v2Secrets())), 'ECLOSED');
  t.is(recorded.minuteKeys.length, 2);
  t.true(recorded.minuteKeys.every(isZero), 'the key arrays themselves are zeroed');
  t.is(inspect(core), 'CookieCore { periodMs: 1000, guardSize: 1048576, remembered: 0 }', 'the guard is emptied');
});

test('core: after a pause of several periods both old keys are wiped and no key is left that an attacker knows (all zeros)', (t) => {
  const clock = manualClock();
  const recorded = recordingBackend();
  const core = new CookieCore(recorded.backend, { periodMs: PERIOD }, clock.now);
  const zero = new Uint8Array(32);
  const forgedUnderZero = () => [v1CookieUnder(zero), sealCookieV2(backend, zero, v2Secrets(), START + 1e9)];
  const refused = (cookies: Uint8Array[]) => {
    t.is(codeOf(() => core.open(cookies[0]!)), 'EAUTH');
    t.is(codeOf(() => core.openV2(cookies[1]!)), 'EAUTH');
  };
  refused(forgedUnderZero());
  const first = core.seal(ephemeral(), ephemeral());
  clock.advance(PERIOD); // one rotation: the first key is the previous one
  const second = core.seal(ephemeral(), ephemeral());
  refused(forgedUnderZero());
  clock.advance(5 * PERIOD); // five more periods without a call: neither key may open anything
  for (const c of [first, second]) t.is(codeOf(() => core.open(c)), 'EAUTH');
  refused(forgedUnderZero());
  t.is(recorded.minuteKeys.length, 3);
  t.true(isZero(recorded.minuteKeys[0]!), 'the previous key is wiped');
  t.true(isZero(recorded.minuteKeys[1]!), 'the current key, more than two periods old, is wiped too');
  t.false(isZero(recorded.minuteKeys[2]!), 'the new key is live');
  t.is(core.getStats().rotations, 6);
});

test('core: the cookie plaintext (the server ephemeral secret) is wiped once open has decoded it, also for a replay', (t) => {
  const recorded = recordingBackend();
  const core = new CookieCore(recorded.backend, { periodMs: PERIOD }, manualClock().now);
  const ec = ephemeral();
  const ess = ephemeral();
  const cookie = core.seal(ec, ess);
  const contents = core.open(cookie);
  t.deepEqual(contents, { clientEphemeralPublicKey: ec, serverEphemeralSecretKey: ess }, 'the caller gets its own copy');
  t.is(recorded.opened.length, 1);
  t.true(isZero(recorded.opened[0]!));
  core.admit(cookie);
  t.is(codeOf(() => core.open(cookie)), 'EAUTH');
  t.true(recorded.opened.length >= 3);
  t.true(recorded.opened.every(isZero));
});

test('core: a v2 cookie is refused once its own expiry is reached, even under a live key; refusals are counted', (t) => {
  const clock = manualClock();
  const recorded = recordingBackend();
  const core = new CookieCore(recorded.backend, { periodMs: PERIOD }, clock.now);
  clock.advance(10);
  const now = START + 10;
  const v2Key = cookieKeyOf(recorded.minuteKeyCopies[0]!);
  // Made with the live key (learnt from the backend), so only the expiry can refuse them.
  const expiringNow = sealCookieV2(backend, v2Key, v2Secrets(), now);
  const expired = sealCookieV2(backend, v2Key, v2Secrets(), now - 1);
  const secrets = v2Secrets();
  const stillValid = sealCookieV2(backend, v2Key, secrets, now + 1);
  t.deepEqual(core.openV2(stillValid), secrets, 'a cookie made this way opens while its expiry is ahead');
  for (const c of [expiringNow, expired]) {
    t.is(codeOf(() => core.openV2(c)), 'EAUTH');
    t.is(codeOf(() => core.admit(c)), 'EAUTH');
  }
  const tampered = core.sealV2(v2Secrets());
  tampered[100]! ^= 1;
  t.is(codeOf(() => core.openV2(tampered)), 'EAUTH');
  t.like(core.getStats(), { refusedInvalid: 5, opened: 1, remembered: 0 });
  clock.advance(1); // the one that was still valid has now reached its expiry
  t.is(codeOf(() => core.openV2(stillValid)), 'EAUTH');
  t.is(core.getStats().refusedInvalid, 6);
});

test('core: sealV2 takes only an object of secrets: null, a string, a number or a function carrying the fields are EINVAL', (t) => {
  const core = new CookieCore(backend, { periodMs: PERIOD }, manualClock().now);
  const carrier = Object.assign(() => undefined, v2Secrets()); // every field there, but not an object
  for (const value of [carrier, null, undefined, 'secrets', 42]) {
    t.is(codeOf(() => core.sealV2(value as never)), 'EINVAL', typeof value);
  }
  t.is(core.sealV2(v2Secrets()).length, 168);
});

test('core: a v2 guard entry lives exactly as long as the key that opened its cookie', (t) => {
  const clock = manualClock();
  const core = new CookieCore(backend, { periodMs: PERIOD, guardSize: 1 }, clock.now);
  const first = core.sealV2(v2Secrets());
  clock.advance(900);
  core.admit(first); // remembered until its key dies, 1100 ms from now
  clock.advance(100);
  const second = core.sealV2(v2Secrets());
  clock.advance(999);
  t.is(codeOf(() => core.admit(second)), 'EBUSY'); // 1 ms before: still full
  t.is(codeOf(() => core.admit(first)), 'EAUTH');
  clock.advance(1); // the first key dies now, its entry a millisecond later
  t.is(codeOf(() => core.admit(second)), 'EBUSY');
  clock.advance(1);
  t.is(codeOf(() => core.admit(second)), 'ok');
  t.like(core.getStats(), { remembered: 1, refusedGuardFull: 2, admitted: 2 });
});

test('core: the sweep due 1 ms after a rotation still runs when the guard was read in between', (t) => {
  const clock = manualClock();
  const core = new CookieCore(backend, { periodMs: PERIOD, guardSize: 1 }, clock.now);
  const first = core.seal(ephemeral(), ephemeral());
  clock.advance(900);
  core.admit(first); // its entry turns stale 1 ms after its key dies (START + 2000)
  clock.advance(100);
  const second = core.seal(ephemeral(), ephemeral());
  clock.advance(1000); // the first key dies: the rotation's sweep finds its entry not yet stale
  t.like(core.getStats(), { remembered: 1, rotations: 2 });
  t.like(core.getStats(), { remembered: 1 }, 'read again within the same millisecond');
  clock.advance(1);
  t.is(codeOf(() => core.admit(second)), 'ok');
  t.like(core.getStats(), { remembered: 1, refusedGuardFull: 0 });
});

test('core: a flood of admits refused by a full guard never walks the guard (a few clock reads per cookie, not one per entry)', (t) => {
  const clock = manualClock();
  const size = 256;
  const core = new CookieCore(backend, { periodMs: PERIOD, guardSize: size }, clock.now);
  for (let i = 0; i < size; i++) core.admit(core.seal(ephemeral(), ephemeral()));
  const flood = Array.from({ length: 50 }, () => core.seal(ephemeral(), ephemeral()));
  const before = clock.reads;
  for (const cookie of flood) t.is(codeOf(() => core.admit(cookie)), 'EBUSY');
  const perCookie = (clock.reads - before) / flood.length;
  t.true(perCookie < 16, `${perCookie} clock reads per refused cookie (a sweep reads it once per entry: ${size})`);
  t.like(core.getStats(), { remembered: size, refusedGuardFull: flood.length });
});

test('core: the guard arms no timer per remembered cookie (entries leave at the sweeps, a million timers would not)', (t) => {
  const core = new CookieCore(backend, { periodMs: PERIOD, guardSize: 64 }, manualClock().now);
  const cookies = [...Array.from({ length: 8 }, () => core.seal(ephemeral(), ephemeral())), ...Array.from({ length: 8 }, () => core.sealV2(v2Secrets()))];
  const realSetTimeout = globalThis.setTimeout;
  let armed = 0;
  // Synchronous from here to the restore: nothing else in this process can run in between.
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    armed++;
    return realSetTimeout(...args);
  }) as typeof setTimeout;
  try {
    for (const cookie of cookies) core.admit(cookie);
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
  t.is(core.getStats().remembered, 16);
  t.is(armed, 0);
});

test('core: a cookie of the wrong size or type is EINVAL at open, openV2 and admit, and counts as nothing', (t) => {
  const core = new CookieCore(backend, { periodMs: PERIOD }, manualClock().now);
  const v1 = core.seal(ephemeral(), ephemeral());
  const v2 = core.sealV2(v2Secrets());
  for (const bad of [new Uint8Array(95), new Uint8Array(97), v1.subarray(1), 'cookie', null, undefined, [...v1], v1.buffer]) {
    t.is(codeOf(() => core.open(bad as Uint8Array)), 'EINVAL');
    t.is(codeOf(() => core.admit(bad as Uint8Array)), 'EINVAL');
  }
  for (const bad of [new Uint8Array(167), new Uint8Array(169), v2.subarray(1), v1, 'cookie', null, [...v2]]) {
    t.is(codeOf(() => core.openV2(bad as Uint8Array)), 'EINVAL');
  }
  t.like(core.getStats(), { refusedInvalid: 0, opened: 0, remembered: 0 });
  t.is(codeOf(() => core.admit(v1)), 'ok');
  t.is(codeOf(() => core.admit(v2)), 'ok');
});
