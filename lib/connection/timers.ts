/**
 * Every timer of a connection, each armed by a function named after the event that arms it and
 * disarmed by the one named after the event that ends it. The callbacks are shared functions that
 * get their socket as an argument, so a timer costs no closure per connection.
 */
import type { Socket as TcpSocket } from 'node:net';
import { CLOSE_GRACE_MS } from '../limits.js';

/** What a handshake deadline tells its socket. */
export interface HandshakeClock {
  handshakeTimedOut(): void;
}

function handshakeDeadlinePassed(socket: HandshakeClock): void {
  socket.handshakeTimedOut();
}

/** What a v2 key clock tells its session's owner. */
export interface KeyClock {
  sendKeyTimeUp(): void;
}

function sendKeyTimePassed(owner: KeyClock): void {
  owner.sendKeyTimeUp();
}

function closeGraceOver(tcp: TcpSocket): void {
  tcp.destroy();
}

/** The handshake started: it must finish within `ms`, or the socket is told it timed out. */
export function handshakeStarted(socket: HandshakeClock, ms: number): NodeJS.Timeout {
  return setTimeout(handshakeDeadlinePassed, ms, socket);
}

/** The handshake ended, however it ended: its deadline no longer applies. */
export function handshakeEnded(deadline: NodeJS.Timeout | undefined): void {
  clearTimeout(deadline);
}

/**
 * A v2 sending key began to serve (or was checked before its time): in `ms` its time is up. Never
 * keeps the process alive; cleared with `keyClockStopped` when the connection closes.
 */
export function sendKeyStarted(owner: KeyClock, ms: number): NodeJS.Timeout {
  return setTimeout(sendKeyTimePassed, Math.max(1, ms), owner).unref();
}

export function keyClockStopped(clock: NodeJS.Timeout | undefined): void {
  clearTimeout(clock);
}

/** A clean close sent FIN: a peer that does not close its side in time is cut off (never keeps the process alive). */
export function finSent(tcp: TcpSocket): NodeJS.Timeout {
  return setTimeout(closeGraceOver, CLOSE_GRACE_MS, tcp).unref();
}

/** TCP has closed: nothing left to wait for. */
export function tcpReleased(grace: NodeJS.Timeout | undefined): void {
  clearTimeout(grace);
}
