/**
 * The lifecycle of one connection as an xstate machine:
 *
 *   ready ─CONNECT→ handshake.initiating ─┐
 *   ready ─ACCEPT─→ handshake.accepting ──┴─(handshake done)→ connected
 *   every state ─(CLOSE | FAIL | handshake error | handshake timeout)→ closed
 *
 * The machine owns the handshake (as an invoked promise, aborted when the state is left) and its
 * timeout, and turns every failure into a reason on the way to `closed`. The per-message data path
 * does not go through it: once connected, the socket handles messages directly and only sends an
 * event when the connection must end.
 */
import { assign, fromPromise, setup } from 'xstate';
import { CurvetunError } from '../errors.js';
import type { HandshakeResult } from './handshake.js';

export interface ConnectionHooks {
  /** Runs the handshake; the signal aborts when the machine leaves the handshake state. */
  handshake(signal: AbortSignal): Promise<HandshakeResult>;
  /** Called once, on entering `connected`. Must not throw. */
  connected(result: HandshakeResult): void;
  /** Called once, on entering `closed`. Must not throw. */
  closed(reason: CurvetunError): void;
}

export interface ConnectionInput {
  hooks: ConnectionHooks;
  handshakeTimeoutMs: number;
}

interface ConnectionContext extends ConnectionInput {
  reason: CurvetunError | null;
}

export type ConnectionEvent =
  | { type: 'CONNECT' }
  | { type: 'ACCEPT' }
  /** The connection must end because of `error` (protocol violation, bad box, socket error). */
  | { type: 'FAIL'; error: CurvetunError }
  /** Closed on purpose (local close, peer close, abort): `error` says why. */
  | { type: 'CLOSE'; error: CurvetunError };

const handshakeLogic = fromPromise<HandshakeResult, { hooks: ConnectionHooks }>(({ input, signal }) =>
  input.hooks.handshake(signal),
);

function asCurvetunError(error: unknown): CurvetunError {
  if (error instanceof CurvetunError) return error;
  // Only our own code runs in the handshake; anything else is a bug, reported without internals.
  return new CurvetunError('EPROTO', 'the handshake failed unexpectedly', { cause: error });
}

function reasonOf(event: ConnectionEvent | { type: string; error?: unknown }): CurvetunError {
  return 'error' in event && event.error !== undefined ? asCurvetunError(event.error) : new CurvetunError('ECLOSED', 'connection closed');
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: { handshake: handshakeLogic },
  delays: {
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
  },
  actions: {
    // Every way into `closed` records why first; the first reason wins.
    recordReason: assign({ reason: ({ context, event }) => context.reason ?? reasonOf(event) }),
    recordTimeout: assign({
      reason: ({ context }) =>
        context.reason ?? new CurvetunError('ETIMEDOUT', `the handshake did not complete within ${context.handshakeTimeoutMs} ms`),
    }),
  },
}).createMachine({
  id: 'connection',
  initial: 'ready',
  context: ({ input }) => ({ ...input, reason: null }),
  states: {
    ready: {
      on: {
        CONNECT: 'handshake.initiating',
        ACCEPT: 'handshake.accepting',
        CLOSE: { target: 'closed', actions: 'recordReason' },
        FAIL: { target: 'closed', actions: 'recordReason' },
      },
    },
    // One handshake state with one timeout and one way out; the two children only say which side
    // we are (the hooks run the matching half).
    handshake: {
      invoke: {
        src: 'handshake',
        input: ({ context }) => ({ hooks: context.hooks }),
        onDone: { target: 'connected', actions: ({ context, event }) => context.hooks.connected(event.output) },
        onError: { target: 'closed', actions: assign({ reason: ({ context, event }) => context.reason ?? asCurvetunError(event.error) }) },
      },
      after: { handshakeTimeout: { target: 'closed', actions: 'recordTimeout' } },
      on: {
        CLOSE: { target: 'closed', actions: 'recordReason' },
        FAIL: { target: 'closed', actions: 'recordReason' },
      },
      initial: 'initiating',
      states: {
        initiating: {},
        accepting: {},
      },
    },
    connected: {
      on: {
        CLOSE: { target: 'closed', actions: 'recordReason' },
        FAIL: { target: 'closed', actions: 'recordReason' },
      },
    },
    closed: {
      type: 'final',
      entry: ({ context }) => context.hooks.closed(context.reason ?? new CurvetunError('ECLOSED', 'connection closed')),
    },
  },
});
