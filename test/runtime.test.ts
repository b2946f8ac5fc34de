/** The actor runtime with a real worker: typed calls, deadlines, errors across the thread, supervision. */
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { startActor } from '../lib/runtime/index.js';
import type { ActorRef } from '../lib/runtime/index.js';
import { failure } from './helpers/fixtures.js';

const script = new URL('./fixtures/test-actor.js', import.meta.url);

/**
 * A test actor. Its default call deadline is far beyond anything these tests wait for: they check
 * which outcome comes (a reply, EACTOR on a crash), and a loaded machine must not turn that into
 * ETIMEDOUT. Tests about deadlines set their own.
 */
async function actor(t: { teardown(fn: () => unknown): void }, init: unknown = { greeting: 'hi' }, extra = {}): Promise<ActorRef> {
  const ref = await startActor({ name: 'test-actor', script, init, callTimeoutMs: 60_000, ...extra });
  t.teardown(() => ref.stop());
  return ref;
}

test('calls carry init data and structured values both ways, many at once', async (t) => {
  const ref = await actor(t);
  t.is(await ref.call('greet'), 'hi');
  const values = await Promise.all(Array.from({ length: 200 }, (_, i) => ref.call('echo', { i, bytes: new Uint8Array([i & 0xff]) })));
  t.deepEqual(values[199], { i: 199, bytes: new Uint8Array([199]) });
});

test('a typed error crosses the thread with its code; any other error becomes EACTOR without its message', async (t) => {
  const ref = await actor(t);
  const typed = await failure(ref.call('typed'));
  t.is(typed.code, 'EAUTH');
  t.is(typed.message, 'typed failure');
  const plain = await failure(ref.call('plain'));
  t.is(plain.code, 'EACTOR');
  t.false(plain.message.includes('0123456789abcdef'));
  t.is((await failure(ref.call('nope'))).code, 'EINVAL');
  t.is(await ref.call('greet'), 'hi');
});

test('a call past its deadline is ETIMEDOUT; the actor keeps serving', async (t) => {
  const ref = await actor(t);
  const error = await failure(ref.call('sleep', 500, { timeoutMs: 50 }));
  t.is(error.code, 'ETIMEDOUT');
  t.is(await ref.call('sleep', 10), 10);
});

test('an uncaught exception in the worker: calls in flight fail EACTOR, the supervisor restarts it', async (t) => {
  const ref = await actor(t, { greeting: 'again' }, { restart: { backoffMs: 5 } });
  const restarted = new Promise<void>((resolve) => ref.on('restart', () => resolve()));
  // Only the crash can end this call: its reply would come after a minute, its deadline later still.
  const slow = ref.call('sleep', 60_000, { timeoutMs: 120_000 });
  await ref.call('crash');
  t.is((await failure(slow)).code, 'EACTOR');
  await restarted;
  t.is(await ref.call('greet'), 'again');
  t.is(ref.restarts, 1, 'the restart is counted (for metrics)');
});

test('a worker can tell its owner news unasked: the ref emits notice (event, data)', async (t) => {
  const ref = await actor(t);
  t.is(ref.restarts, 0);
  const notice = new Promise<unknown[]>((resolve) => ref.on('notice', (...args: unknown[]) => resolve(args)));
  t.is(await ref.call('notify', { n: 1 }), 'sent');
  t.deepEqual(await notice, ['news', { n: 1 }]);
});

test('a setup failure rejects startActor with its typed error', async (t) => {
  const error = await failure(startActor({ name: 'test-actor', script, init: { greeting: 'fail-setup' } }));
  t.is(error.code, 'EKEY');
});

test('stop(): pending and later calls are ECLOSED', async (t) => {
  const ref = await startActor({ name: 'test-actor', script, init: { greeting: 'x' } });
  const pending = ref.call('sleep', 1000);
  await ref.stop();
  t.is((await failure(pending)).code, 'ECLOSED');
  t.is((await failure(ref.call('greet'))).code, 'ECLOSED');
});

test('a result that cannot cross threads is EACTOR for that call only: no crash, no restart', async (t) => {
  const ref = await actor(t);
  let exits = 0;
  ref.on('exit', () => exits++);
  const error = await failure(ref.call('uncloneable'));
  t.is(error.code, 'EACTOR');
  t.regex(error.message, /cannot cross threads/);
  t.is(await ref.call('greet'), 'hi');
  t.is(exits, 0);
});

test('calls made while the worker restarts wait for it; only calls the dead worker held fail', async (t) => {
  const ref = await actor(t, { greeting: 'patient' }, { restart: { backoffMs: 100 } });
  const held = ref.call('sleep', 60_000);
  await ref.kill();
  // Generous deadlines: a restart under a loaded machine can take seconds; order is what is tested.
  const waiting = Array.from({ length: 20 }, (_, i) => ref.call('echo', i, { timeoutMs: 60_000 }));
  t.is((await failure(held)).code, 'EACTOR');
  t.deepEqual(await Promise.all(waiting), Array.from({ length: 20 }, (_, i) => i), 'answered by the new worker, in order');
});

test('a missing worker script is a typed EACTOR at start', async (t) => {
  const error = await failure(startActor({ name: 'ghost', script: new URL('./fixtures/no-such-actor.js', import.meta.url) }));
  t.is(error.code, 'EACTOR');
  t.regex(error.message, /not found/);
});

// ---- the shared-memory lane ---------------------------------------------------------------

const LANE = {
  bytes: { args: 'bytes', result: 'bytes' },
  pair: { args: { a: 'bytes', b: 'text' }, result: { a: 'text', b: 'bytes' } },
  typed: { args: 'json', result: 'json' },
  plain: { args: 'json', result: 'json' },
  sleep: { args: 'json', result: 'json' },
  ticks: { args: 'json', result: 'json' },
} as const;

test('lane: small calls go through shared memory with the results and typed errors of postMessage; overflow takes postMessage', async (t) => {
  const ref = await actor(t, { greeting: 'lane' }, { lane: LANE });
  const values = await Promise.all(Array.from({ length: 300 }, (_, i) => ref.call<Uint8Array>('bytes', new Uint8Array([i & 0xff, i >> 8]))));
  values.forEach((v, i) => t.deepEqual(v, new Uint8Array([i & 0xff, i >> 8])));
  t.true(ref.calls.lane >= 64, `lane ${ref.calls.lane}`);
  t.true(ref.calls.port > 0, 'more calls at once than slots: the rest went by postMessage');
  t.deepEqual(await ref.call('pair', { a: new Uint8Array([1, 2]), b: 'héllo' }), { a: 'héllo', b: new Uint8Array([1, 2]) });
  const typed = await failure(ref.call('typed', null));
  t.is(typed.code, 'EAUTH');
  t.is(typed.message, 'typed failure');
  const plain = await failure(ref.call('plain', null));
  t.is(plain.code, 'EACTOR');
  t.false(plain.message.includes('0123456789abcdef'));
  t.is(await ref.call('greet'), 'lane', 'a method not on the lane still answers');
});

test('lane: a value that does not fit a slot, or does not fit the shape, takes postMessage and arrives whole', async (t) => {
  const ref = await actor(t, { greeting: 'x' }, { lane: LANE });
  const big = new Uint8Array(5000).map((_, i) => i & 0xff);
  const before = ref.calls.port;
  t.deepEqual(await ref.call('bytes', big), big);
  t.deepEqual(await ref.call('bytes', 'not bytes'), 'not bytes');
  t.is(ref.calls.port, before + 2);
});

test('lane: an async handler answers later, and the worker keeps its timers and its mail while it waits on the lane', async (t) => {
  const ref = await actor(t, { greeting: 'x' }, { lane: LANE });
  const lane0 = ref.calls.lane;
  t.is(await ref.call('sleep', 30), 30);
  t.is(ref.calls.lane, lane0 + 1);
  const first = await ref.call<number>('ticks', null);
  await new Promise((r) => setTimeout(r, 400));
  t.true((await ref.call<number>('ticks', null)) >= first + 2, 'setInterval in the worker kept firing');
  t.is(await ref.call('greet'), 'x');
});

test('lane: one batch of mixed answers (values, failures, a later async value) reaches each caller with its own outcome', async (t) => {
  const ref = await actor(t, { greeting: 'x' }, { lane: LANE });
  // Posted in one turn, so the worker finds them together and answers them as one batch; the
  // owner is told once for the batch, and each slot still settles its own call.
  for (let round = 0; round < 20; round++) {
    const later = ref.call<number>('sleep', 5 + round);
    const calls = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0 ? failure(ref.call('typed', null)).then((e) => e.code) : ref.call<Uint8Array>('bytes', new Uint8Array([i, round])),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => t.deepEqual(r, i % 3 === 0 ? 'EAUTH' : new Uint8Array([i, round])));
    t.is(await later, 5 + round, 'the async answer of the batch arrives too, with its own value');
  }
  // A lone failing call is a batch of one: it must not wait for some later reply to be noticed.
  t.is((await failure(ref.call('plain', null))).code, 'EACTOR');
});

test('lane: a worker killed with lane calls in flight fails them EACTOR; the restarted worker answers on a new lane', async (t) => {
  const ref = await actor(t, { greeting: 'again' }, { lane: LANE, restart: { backoffMs: 5 } });
  const restarted = new Promise<void>((resolve) => ref.on('restart', () => resolve()));
  const held = ref.call('sleep', 60_000);
  const lane0 = ref.calls.lane;
  await ref.kill();
  t.is((await failure(held)).code, 'EACTOR');
  await restarted;
  t.deepEqual(await ref.call('bytes', new Uint8Array([9])), new Uint8Array([9]));
  t.true(ref.calls.lane > lane0);
});

test('lane: a lane call past its deadline is ETIMEDOUT; its slot comes back and the lane keeps serving', async (t) => {
  const ref = await startActor({ name: 'test-actor', script, init: { greeting: 'x' }, callTimeoutMs: 50, lane: LANE });
  t.teardown(() => ref.stop());
  // More stalled calls than slots: every one times out, and none of them keeps a slot for good.
  // The sleep is 60× the deadline: with 300 ms a loaded machine once ran the 50 ms timer after the
  // reply had arrived, and a call that should have timed out succeeded.
  const stalled = await Promise.all(Array.from({ length: 80 }, () => failure(ref.call('sleep', 3000))));
  t.true(stalled.every((e) => e.code === 'ETIMEDOUT'));
  // The late replies come back and free their slots: then a batch of 64 calls all take the lane.
  // (Bounded retries, not a fixed pause: on a loaded machine the replies may take a while, and a
  // 50 ms deadline may pass for the batch too; what is checked is the way the calls took.)
  let allOnLane = false;
  for (let attempt = 0; attempt < 100 && !allOnLane; attempt++) {
    await new Promise((r) => setTimeout(r, 100));
    const before = ref.calls.lane;
    await Promise.all(Array.from({ length: 64 }, (_, i) => ref.call('bytes', new Uint8Array([i])).catch(() => undefined)));
    allOnLane = ref.calls.lane === before + 64;
  }
  t.true(allOnLane, 'all 64 slots are free again');
  let answered: unknown;
  for (let attempt = 0; attempt < 100 && answered === undefined; attempt++) {
    answered = await ref.call('bytes', new Uint8Array([7])).catch((e: CurvetunError) => {
      if (e.code !== 'ETIMEDOUT') throw e;
      return undefined;
    });
  }
  t.deepEqual(answered, new Uint8Array([7]), 'the lane keeps serving');
});
