/** The actor runtime with a real worker: typed calls, deadlines, errors across the thread, supervision. */
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { startActor } from '../lib/runtime/index.js';
import type { ActorRef } from '../lib/runtime/index.js';

const script = new URL('./fixtures/test-actor.js', import.meta.url);

async function actor(t: { teardown(fn: () => unknown): void }, init: unknown = { greeting: 'hi' }, extra = {}): Promise<ActorRef> {
  const ref = await startActor({ name: 'test-actor', script, init, callTimeoutMs: 2000, ...extra });
  t.teardown(() => ref.stop());
  return ref;
}

async function failure(p: Promise<unknown>): Promise<CurvetunError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof CurvetunError) return error;
    throw error;
  }
  throw new Error('expected a failure');
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
  const slow = ref.call('sleep', 1000);
  await ref.call('crash');
  t.is((await failure(slow)).code, 'EACTOR');
  await restarted;
  t.is(await ref.call('greet'), 'again');
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
  const held = ref.call('sleep', 5000);
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
