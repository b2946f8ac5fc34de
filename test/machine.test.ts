/**
 * The connection lifecycle: the machine's steps as connections take them (remembered xstate
 * transitions), checked against a live xstate actor of the same machine; and a real socket over
 * loopback TCP driven through it (handshake deadline, unexpected exceptions, first reason wins).
 */
import { createServer, connect as tcpConnect } from 'node:net';
import type { Server, Socket } from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import { createActor } from 'xstate';
import { READY, connectionMachine } from '../lib/connection/machine.js';
import type { ConnectionEventType, LifecycleAction, LifecycleState } from '../lib/connection/machine.js';
import type { HandshakeIO, HandshakeResult } from '../lib/connection/handshake.js';
import { CurvetunSocket } from '../lib/connection/socket.js';
import { CurvetunError } from '../lib/errors.js';

const EVENTS: ConnectionEventType[] = ['CONNECT', 'ACCEPT', 'HANDSHAKE_DONE', 'HANDSHAKE_FAILED', 'TIMEOUT', 'FAIL', 'CLOSE'];

/** Walk the remembered steps; the state names passed and every action run. */
function walk(events: ConnectionEventType[]): { states: string[]; actions: LifecycleAction[]; end: LifecycleState } {
  let state = READY;
  const states = [state.name];
  const actions: LifecycleAction[] = [];
  for (const event of events) {
    const step = state.next(event);
    if (!step) continue;
    state = step.state;
    states.push(state.name);
    actions.push(...step.actions);
  }
  return { states, actions, end: state };
}

test('client: ready → initiating → connected → closed, with the effects in order', (t) => {
  const run = walk(['CONNECT', 'HANDSHAKE_DONE', 'CLOSE']);
  t.deepEqual(run.states, ['ready', 'initiating', 'connected', 'closed']);
  t.deepEqual(run.actions, ['startHandshake', 'stopHandshake', 'enterConnected', 'recordReason', 'enterClosed']);
});

test('server: accepting; a failed handshake stops it, records the reason, then closes', (t) => {
  const run = walk(['ACCEPT', 'HANDSHAKE_FAILED']);
  t.deepEqual(run.states, ['ready', 'accepting', 'closed']);
  t.deepEqual(run.actions, ['startHandshake', 'stopHandshake', 'recordReason', 'enterClosed']);
});

test('the handshake deadline records a timeout, not a reason from the event', (t) => {
  t.deepEqual(walk(['CONNECT', 'TIMEOUT']).actions, ['startHandshake', 'stopHandshake', 'recordTimeout', 'enterClosed']);
});

test('events a state does not take are ignored; closed is final and takes nothing', (t) => {
  t.is(READY.next('HANDSHAKE_DONE'), null);
  t.is(READY.next('TIMEOUT'), null);
  const connected = walk(['CONNECT', 'HANDSHAKE_DONE']).end;
  t.is(connected.next('CONNECT'), null);
  t.is(connected.next('TIMEOUT'), null);
  const closed = walk(['CONNECT', 'CLOSE']).end;
  t.is(closed.name, 'closed');
  for (const event of EVENTS) t.is(closed.next(event), null, event);
});

test('every remembered step is what a live xstate actor of the machine does (2 000 random event sequences)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...EVENTS), { maxLength: 8 }), (events) => {
      const ran: string[] = [];
      const record = (name: LifecycleAction) => () => void ran.push(name);
      const actor = createActor(
        connectionMachine.provide({
          actions: {
            startHandshake: record('startHandshake'),
            stopHandshake: record('stopHandshake'),
            recordReason: record('recordReason'),
            recordTimeout: record('recordTimeout'),
            enterConnected: record('enterConnected'),
            enterClosed: record('enterClosed'),
          },
        }),
      );
      actor.start();
      for (const type of events) actor.send({ type });
      const value = actor.getSnapshot().value;
      const liveName = typeof value === 'string' ? value : Object.values(value)[0];
      actor.stop();
      const memo = walk(events);
      return liveName === memo.end.name && JSON.stringify(ran) === JSON.stringify(memo.actions);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

// ---- a real socket over loopback, with a stand-in handshake ------------------------------------

async function tcpPair(t: import('ava').ExecutionContext): Promise<{ client: Socket; server: Socket }> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((resolve) => client.once('connect', resolve));
  const peer = await accepted;
  t.teardown(() => {
    client.destroy();
    peer.destroy();
    server.close();
  });
  return { client, server: peer };
}

function socketWith(tcp: Socket, handshake: (io: HandshakeIO) => Promise<HandshakeResult>, handshakeTimeout = 1000) {
  let settledWith: CurvetunError | null | undefined;
  const socket = new CurvetunSocket(tcp, 'client', handshake, { handshakeTimeout, highWaterMark: 1 << 20 }, (e) => (settledWith = e));
  const closed = new Promise<CurvetunError>((resolve) => socket.once('close', resolve));
  return { socket, closed, settled: () => settledWith };
}

test('socket: a stalled handshake is closed with ETIMEDOUT, its packet read is abandoned, TCP is closed', async (t) => {
  const { client, server } = await tcpPair(t);
  let readFailed: CurvetunError | undefined;
  const s = socketWith(
    client,
    async (io) => {
      await io.next().catch((e: CurvetunError) => (readFailed = e));
      return new Promise<never>(() => undefined);
    },
    40,
  );
  t.is(s.socket.state, 'initiating');
  const peerSawClose = new Promise((resolve) => server.once('close', resolve));
  const reason = await s.closed;
  t.is(reason.code, 'ETIMEDOUT');
  t.is(s.settled()?.code, 'ETIMEDOUT');
  t.is(readFailed?.code, 'ECLOSED');
  t.is(s.socket.state, 'closed');
  await peerSawClose;
});

test('socket: an unexpected exception in the handshake becomes EPROTO without its message; the first reason wins', async (t) => {
  const { client } = await tcpPair(t);
  const s = socketWith(client, async () => {
    throw new TypeError('internal detail');
  });
  const reason = await s.closed;
  t.is(reason.code, 'EPROTO');
  t.false(reason.message.includes('internal detail'));
  s.socket.abort(new CurvetunError('EAUTH', 'late'));
  t.is(s.socket.closeReason, reason);
});

test('socket: a completed handshake enters connected and settles once; the peer closing ends it cleanly', async (t) => {
  const { client, server } = await tcpPair(t);
  const { Session } = await import('../lib/connection/session.js');
  const { getBackend } = await import('../lib/crypto/index.js');
  const backend = getBackend('tweetnacl');
  const s = socketWith(client, async () => ({ session: new Session(backend, backend.randomBytes(32), 'client'), peerKey: new Uint8Array(32) }));
  await new Promise((resolve) => setImmediate(resolve));
  t.is(s.socket.state, 'connected');
  t.is(s.settled(), null);
  server.end();
  const reason = await s.closed;
  t.is(reason.code, 'ECLOSED');
  t.is(s.settled(), null); // settled once, with the handshake's outcome
  t.is(s.socket.state, 'closed');
});
