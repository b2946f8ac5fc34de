/**
 * PendingHandshakes (lib/connection/handshake-admission.ts) on its own: the per-address count that
 * the listener's cap reads, kept exact as handshakes start and end in any order, and forgotten for
 * an address once its last handshake ended (a listener meets many addresses over its life). The
 * caps against real floods over loopback are in hostile-flood.test.ts.
 */
import test from 'ava';
import { PendingHandshakes } from '../lib/connection/handshake-admission.js';
import type { CurvetunSocket } from '../lib/connection/socket.js';

/** Stand-ins for sockets: the class only keeps them in its set. */
const socket = () => ({}) as CurvetunSocket;

test('the per-address cap counts the handshakes in progress from each address, whatever order they end in', (t) => {
  const pending = new PendingHandshakes({ maxPendingHandshakes: 100, maxPendingPerAddress: 3 });
  const a = [socket(), socket(), socket()];
  for (const s of a) {
    t.true(pending.reserve('192.0.2.1'));
    pending.sockets.add(s);
  }
  t.false(pending.reserve('192.0.2.1'), 'a fourth from the same address');
  t.true(pending.reserve('192.0.2.2'), 'another address has its own count');
  pending.end(a[1]!, '192.0.2.1');
  t.true(pending.reserve('192.0.2.1'), 'one ended: one place free');
  t.false(pending.reserve('192.0.2.1'), 'and only one');
  pending.end(a[0]!, '192.0.2.1');
  pending.end(a[2]!, '192.0.2.1');
  t.true(pending.reserve('192.0.2.1'));
  t.true(pending.reserve('192.0.2.1'));
  t.false(pending.reserve('192.0.2.1'), 'still three in progress');
});

test('an address whose last handshake ended is forgotten; the total cap counts sockets', (t) => {
  const pending = new PendingHandshakes({ maxPendingHandshakes: 2, maxPendingPerAddress: 5 });
  const first = socket();
  t.true(pending.reserve('198.51.100.7'));
  pending.sockets.add(first);
  t.true(pending.reserve('198.51.100.8'));
  const second = socket();
  pending.sockets.add(second);
  t.is(pending.addresses, 2);
  t.is(pending.size, 2);
  t.false(pending.reserve('198.51.100.9'), 'the total cap');
  pending.end(first, '198.51.100.7');
  t.is(pending.size, 1);
  t.is(pending.addresses, 1, 'no entry left behind for an address with nothing in progress');
  pending.end(second, '198.51.100.8');
  t.is(pending.addresses, 0);
  t.true(pending.reserve('198.51.100.9'));
});
