/**
 * The names of a connection's lifecycle: its states and the events that move it. Apart from the
 * machine (machine.ts, built with xstate) so that the public declarations need none of xstate's
 * types.
 */

/** The five names a connection's state goes by (`socket.state`). */
export type LifecycleStateName = 'ready' | 'initiating' | 'accepting' | 'connected' | 'closed';

/** What can happen to a connection. */
export type ConnectionEventType = 'CONNECT' | 'ACCEPT' | 'HANDSHAKE_DONE' | 'HANDSHAKE_FAILED' | 'TIMEOUT' | 'FAIL' | 'CLOSE';
