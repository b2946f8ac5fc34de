/**
 * The protocol-version options of the CLI: `--protocol v1|v2` and `--no-post-quantum` where it
 * connects (send, tunnel), `--protocols v1,v2` and `--post-quantum require|on|off` where it
 * listens (echo-server, serve). Without `--protocol`, a client speaks what the host's known_hosts
 * line asks for (`@v1` → v1), else v2; it never falls back on its own.
 */
import type { Protocol } from '../../lib/connection/data-session.js';
import { UsageError } from './args.js';
import type { Parsed } from './args.js';

export const CONNECT_VERSION_OPTIONS = {
  protocol: { type: 'string' },
  'no-post-quantum': { type: 'boolean' },
} as const;

export const LISTEN_VERSION_OPTIONS = {
  protocols: { type: 'string' },
  'post-quantum': { type: 'string' },
} as const;

function protocolOf(text: string, option: string): Protocol {
  if (text !== 'v1' && text !== 'v2') throw new UsageError(`${option} takes v1 or v2, got "${text}"`);
  return text;
}

/**
 * `connect()` options for a client command. Without `--protocol` none is set: connect() then takes
 * the version from the registry line it finds for the addresses it dials (`@v1` → v1), else v2.
 */
export function connectVersion(parsed: Parsed): { protocol?: Protocol; postQuantum: boolean } {
  const postQuantum = parsed.values['no-post-quantum'] !== true;
  if (typeof parsed.values.protocol === 'string') return { protocol: protocolOf(parsed.values.protocol, '--protocol'), postQuantum };
  return { postQuantum };
}

/** `listen()` options for a server command. */
export function listenVersions(parsed: Parsed): { protocols?: Protocol[]; postQuantum?: boolean | 'require' } {
  const out: { protocols?: Protocol[]; postQuantum?: boolean | 'require' } = {};
  if (typeof parsed.values.protocols === 'string') {
    out.protocols = parsed.values.protocols.split(',').map((p) => protocolOf(p.trim(), '--protocols'));
  }
  const pq = parsed.values['post-quantum'];
  if (typeof pq === 'string') {
    if (pq === 'require') out.postQuantum = 'require';
    else if (pq === 'on') out.postQuantum = true;
    else if (pq === 'off') out.postQuantum = false;
    else throw new UsageError(`--post-quantum takes require, on or off, got "${pq}"`);
  }
  return out;
}
