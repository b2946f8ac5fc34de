/**
 * Tracing for operators: `NODE_DEBUG=curvetun` prints one line per lifecycle step of each
 * connection and per stage of its handshake, and the listener's refusals, through Node's
 * `util.debuglog`. Lines carry roles, addresses, states, stage names and error codes, never key
 * material or message bytes (test/trace.test.ts checks a real handshake's lines for every key
 * involved). When tracing is off, every call site is one `trace.enabled` check.
 */
import { debuglog } from 'node:util';

export const trace = debuglog('curvetun');

/** How a trace line names a connection: `client 127.0.0.1:7000`. */
export function connectionLabel(role: string, address: string, port: number): string {
  return `${role} ${address}:${port}`;
}
