/**
 * The connection lifecycle machine on its own: which states it passes through, the handshake
 * timeout, and that every way into `closed` carries a reason and calls the hook exactly once.
 */
import test from 'ava';
import { createActor } from 'xstate';
import { connectionMachine } from '../lib/connection/machine.js';
import type { HandshakeResult } from '../lib/connection/handshake.js';
import { CurvetunError } from '../lib/errors.js';

function run(handshake: (signal: AbortSignal) => Promise<HandshakeResult>, handshakeTimeoutMs = 1000) {
  const seen: string[] = [];
  const closed: CurvetunError[] = [];
  let connected = 0;
  const actor = createActor(connectionMachine, {
    input: { handshakeTimeoutMs, hooks: { handshake, connected: () => connected++, closed: (r) => closed.push(r) } },
  });
  actor.subscribe((s) => seen.push(JSON.stringify(s.value)));
  actor.start();
  return { actor, seen, closed, connected: () => connected };
}

const result = {} as HandshakeResult;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('client: ready → initiating → connected → closed (local close)', async (t) => {
  const m = run(async () => result);
  m.actor.send({ type: 'CONNECT' });
  await sleep(10);
  t.is(m.connected(), 1);
  m.actor.send({ type: 'CLOSE', error: new CurvetunError('ECLOSED', 'bye') });
  t.deepEqual(m.seen, ['"ready"', '{"handshake":"initiating"}', '"connected"', '"closed"']);
  t.is(m.closed.length, 1);
  t.is(m.closed[0]!.message, 'bye');
});

test('server: accepting; a failing handshake closes with its own error', async (t) => {
  const m = run(async () => {
    throw new CurvetunError('EAUTH', 'refused');
  });
  m.actor.send({ type: 'ACCEPT' });
  await sleep(10);
  t.deepEqual(m.seen, ['"ready"', '{"handshake":"accepting"}', '"closed"']);
  t.is(m.closed[0]!.code, 'EAUTH');
  t.is(m.connected(), 0);
});

test('a stalled handshake is closed with ETIMEDOUT and its signal aborts', async (t) => {
  let aborted = false;
  const m = run(
    (signal) =>
      new Promise(() => {
        signal.addEventListener('abort', () => (aborted = true));
      }),
    30,
  );
  m.actor.send({ type: 'CONNECT' });
  await sleep(80);
  t.is(m.closed[0]!.code, 'ETIMEDOUT');
  t.true(aborted);
});

test('an unexpected exception in the handshake becomes EPROTO without its message; the first reason wins', async (t) => {
  const m = run(async () => {
    throw new TypeError('internal detail');
  });
  m.actor.send({ type: 'CONNECT' });
  await sleep(10);
  t.is(m.closed[0]!.code, 'EPROTO');
  t.false(m.closed[0]!.message.includes('internal detail'));
  m.actor.send({ type: 'FAIL', error: new CurvetunError('EAUTH', 'late') });
  t.is(m.closed.length, 1);
});
