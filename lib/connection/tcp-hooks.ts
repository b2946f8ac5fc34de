/**
 * What a TCP socket tells its curvetun socket. The listeners are shared by every connection: Node
 * calls them with `this` set to the TCP socket, which points back at its owner through a symbol,
 * so a connection costs no closures on its TCP socket.
 */
import type { Socket as TcpSocket } from 'node:net';

export interface TcpOwner {
  tcpData(chunk: Buffer): void;
  peerEnded(): void;
  tcpClosed(): void;
  tcpFailed(err: NodeJS.ErrnoException): void;
}

/** What a TCP socket's idle timer (`setTimeout`) tells its owner. */
export interface IdleOwner {
  tcpIdle(): void;
}

const OWNER = Symbol('curvetun socket');
const IDLE_OWNER = Symbol('curvetun socket, idle timer');
type OwnedTcp = TcpSocket & { [OWNER]: TcpOwner; [IDLE_OWNER]?: IdleOwner };

function onTcpData(this: OwnedTcp, chunk: Buffer): void {
  this[OWNER].tcpData(chunk);
}
function onTcpEnd(this: OwnedTcp): void {
  this[OWNER].peerEnded();
}
function onTcpClose(this: OwnedTcp): void {
  this[OWNER].tcpClosed();
}
function onTcpError(this: OwnedTcp, err: NodeJS.ErrnoException): void {
  this[OWNER].tcpFailed(err);
}

function onTcpTimeout(this: OwnedTcp): void {
  this[IDLE_OWNER]?.tcpIdle();
}

/** From now on, `owner` hears what `tcp` says. */
export function hearTcp(tcp: TcpSocket, owner: TcpOwner): void {
  (tcp as OwnedTcp)[OWNER] = owner;
  tcp.on('data', onTcpData);
  tcp.on('end', onTcpEnd);
  tcp.on('close', onTcpClose);
  tcp.on('error', onTcpError);
}

/** The connection is over: data that still arrives is dropped. */
export function stopHearingData(tcp: TcpSocket): void {
  tcp.off('data', onTcpData);
}

/** `owner` hears the TCP socket's idle timer from now on (added on first use: most never ask). */
export function hearTcpIdle(tcp: TcpSocket, owner: IdleOwner): void {
  const owned = tcp as OwnedTcp;
  if (owned[IDLE_OWNER]) return;
  owned[IDLE_OWNER] = owner;
  tcp.on('timeout', onTcpTimeout);
}

/** The address and port a TCP connection stands for. */
export interface PeerEndpoint {
  address: string;
  port: number;
}

/** Endpoints carried by a PROXY protocol header, for the connections that had one (proxy-accept.ts). */
const carriedPeers = new WeakMap<TcpSocket, PeerEndpoint>();

/** From now on `tcp` stands for the client `peer` (the balancer's PROXY header said so). */
export function setPeerOf(tcp: TcpSocket, peer: PeerEndpoint): void {
  carriedPeers.set(tcp, peer);
}

/** Who is at the other end of `tcp`: the client a trusted balancer named, else the TCP peer. */
export function peerOf(tcp: TcpSocket): PeerEndpoint {
  return carriedPeers.get(tcp) ?? { address: tcp.remoteAddress ?? '', port: tcp.remotePort ?? 0 };
}
