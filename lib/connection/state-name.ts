/**
 * The names of a connection's lifecycle states, apart from the machine (lib/connection/machine.ts)
 * so that the public declarations need none of xstate's types.
 */
export type LifecycleStateName = 'ready' | 'initiating' | 'accepting' | 'connected' | 'closed';
