/** The `--verbose` status lines: one when a connection opens, one when it ends, on stderr. */
import { encodePublicKeyText } from '../../lib/keys/text.js';
import { formatHostPort } from './args.js';
import type { Io } from './io.js';

export interface ConnectionInfo {
  /** Where the client came from (for `tunnel`, the local application). */
  address: string;
  port: number;
  /** The curvetun peer's public key, once known. */
  peerKey?: Uint8Array;
}

function who(info: ConnectionInfo): string {
  const key = info.peerKey && info.peerKey.length === 32 ? ` key ${encodePublicKeyText(info.peerKey)}` : '';
  return `${formatHostPort(info.address, info.port)}${key}`;
}

export function reportOpen(io: Io, verbose: boolean, info: ConnectionInfo, target: string): void {
  if (verbose) io.err(`open ${who(info)} -> ${target}`);
}

/** `up` is client → service, `down` is service → client, whichever end this is. */
export function reportClose(io: Io, verbose: boolean, info: ConnectionInfo, up: number, down: number, startedAt: number, end: string): void {
  if (!verbose) return;
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(2);
  io.err(`close ${who(info)} up ${up} B down ${down} B ${seconds} s (${end})`);
}
