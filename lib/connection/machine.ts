/**
 * The lifecycle of one connection as an xstate machine:
 *
 *   ready ─CONNECT→ handshake.initiating ─┐
 *   ready ─ACCEPT─→ handshake.accepting ──┴─HANDSHAKE_DONE→ connected
 *   every state ─(CLOSE | FAIL | HANDSHAKE_FAILED | TIMEOUT)→ closed
 *
 * The machine decides which state follows which event and which effects run on the way (named
 * actions: start the handshake and its timer, stop them, record why the connection ends, enter
 * `connected` / `closed`). The socket carries the effects out; the machine holds no data.
 *
 * Because the machine has no context and no guards, a transition depends on nothing but the
 * state and the event's type. So each connection keeps only its current state, and xstate's pure
 * `transition()` is asked once per (state, event type) in the process and remembered: every
 * connection still moves through this machine's states, but none pays for an xstate actor of its
 * own (what an actor cost per connection: bench/RESULTS.md, "Measurements behind design choices"; a remembered step costs a Map lookup). The
 * per-message data path never enters the machine.
 */
import { initialTransition, setup, transition } from 'xstate';
import type { SnapshotFrom } from 'xstate';
import type { ConnectionEventType, LifecycleStateName } from './lifecycle-names.js';

export type { ConnectionEventType, LifecycleStateName };

/**
 * The effects the machine asks for; `CurvetunSocket` implements each.
 * - startHandshake / stopHandshake: run the handshake half and arm its deadline / abandon both;
 * - recordReason: the event's error is why the connection ends (the first reason wins);
 * - recordTimeout: the handshake deadline is why it ends;
 * - enterConnected / enterClosed: the session is live / release everything and tell the user.
 */
export type LifecycleAction = 'startHandshake' | 'stopHandshake' | 'recordReason' | 'recordTimeout' | 'enterConnected' | 'enterClosed';

// The effects are carried out by the socket, not by xstate: these placeholders only name them.
const effect = () => undefined;

const toClosed = { target: '#connection.closed', actions: 'recordReason' } as const;

export const connectionMachine = setup({
  types: { events: {} as { type: ConnectionEventType } },
  actions: {
    startHandshake: effect,
    stopHandshake: effect,
    recordReason: effect,
    recordTimeout: effect,
    enterConnected: effect,
    enterClosed: effect,
  },
}).createMachine({
  id: 'connection',
  initial: 'ready',
  states: {
    ready: {
      on: { CONNECT: 'handshake.initiating', ACCEPT: 'handshake.accepting', CLOSE: toClosed, FAIL: toClosed },
    },
    // One handshake state with one deadline and one way out; the two children only say which
    // side we are (the socket runs the matching half).
    handshake: {
      entry: 'startHandshake',
      exit: 'stopHandshake',
      on: {
        HANDSHAKE_DONE: 'connected',
        HANDSHAKE_FAILED: toClosed,
        TIMEOUT: { target: 'closed', actions: 'recordTimeout' },
        CLOSE: toClosed,
        FAIL: toClosed,
      },
      initial: 'initiating',
      states: { initiating: {}, accepting: {} },
    },
    connected: {
      entry: 'enterConnected',
      on: { CLOSE: toClosed, FAIL: toClosed },
    },
    closed: { type: 'final', entry: 'enterClosed' },
  },
});

type Snapshot = SnapshotFrom<typeof connectionMachine>;

/**
 * One state of the machine, shared by every connection in it, with the steps out of it that
 * have been asked for so far.
 */
export class LifecycleState {
  private readonly steps = new Map<ConnectionEventType, Step | null>();

  private constructor(
    private readonly snapshot: Snapshot,
    readonly name: LifecycleStateName,
  ) {}

  /** Where `event` leads from here and what runs on the way; `null` if this state ignores it. */
  next(event: ConnectionEventType): Step | null {
    let step = this.steps.get(event);
    if (step === undefined) {
      const [after, actions] = transition(connectionMachine, this.snapshot, { type: event });
      const state = LifecycleState.of(after);
      // xstate answers an event a state does not handle with the same state and no actions.
      step = state !== this || actions.length > 0 ? { state, actions: actions.map((a) => a.type as LifecycleAction) } : null;
      this.steps.set(event, step);
    }
    return step;
  }

  private static readonly known = new Map<string, LifecycleState>();

  /** The shared state object for an xstate snapshot (one per state value). */
  static of(snapshot: Snapshot): LifecycleState {
    const key = JSON.stringify(snapshot.value);
    let state = LifecycleState.known.get(key);
    if (!state) {
      const value = snapshot.value;
      const name = (typeof value === 'string' ? value : Object.values(value)[0]) as LifecycleStateName;
      state = new LifecycleState(snapshot, name);
      LifecycleState.known.set(key, state);
    }
    return state;
  }

  /** Where every connection starts. */
  static initial(): LifecycleState {
    return LifecycleState.of(initialTransition(connectionMachine)[0]);
  }
}

export interface Step {
  readonly state: LifecycleState;
  /** In xstate's order: exit actions of the state left, the transition's own, entry actions of the state entered. */
  readonly actions: readonly LifecycleAction[];
}

/** The state every connection starts in. */
export const READY = LifecycleState.initial();
