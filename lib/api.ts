/**
 * `listen()` and `connect()`: turn the public options into the explicit configuration the
 * listener and the client need, filling gaps from the default home (lib/home.ts). This is where the actors
 * (vault, cookie keeper, registry) are wired to the connection code.
 */
import type { CryptoBackend } from './crypto/backend.js';
import { getBackend } from './crypto/index.js';
import { defaultHome } from './home.js';
import { CurvetunError } from './errors.js';
import { DEFAULT_BACKLOG, DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_PER_ADDRESS, DEFAULT_V2_MAX_MESSAGE_BYTES } from './limits.js';
import { getKem } from './crypto/mlkem.js';
import { SUITE_CLASSICAL, SUITE_HYBRID, V2_MAX_ANNOUNCED_MESSAGE_BYTES, V2_REKEY_AFTER } from './protocol/v2/constants.js';
import type { Suite } from './protocol/v2/constants.js';
import type { Protocol } from './connection/data-session.js';
import type { Registry, Verdict } from './registry/types.js';
import { decodePublicKeyText } from './keys/text.js';
import { AddressFilter } from './net/index.js';
import { startCookieKeeper } from './cookie/index.js';
import { openClientSocket } from './connection/connect.js';
import type { ConnectConfig } from './connection/connect.js';
import { Listener } from './connection/listener.js';
import type { CommonOptions, ConnectOptions, CryptoChoice, ListenOptions } from './connection/options.js';
import { DEFAULT_LIMITS } from './connection/socket.js';
import { keepAliveOptions } from './connection/net-compat.js';
import type { CurvetunSocket, SocketLimits } from './connection/socket.js';
import type { ListenerConfig } from './connection/listener.js';
import { trustedProxies } from './connection/proxy-accept.js';

function backendOf(choice: CryptoChoice | undefined): CryptoBackend {
  if (choice === undefined || typeof choice === 'string') return getBackend(choice ?? 'auto');
  return choice;
}

function limitsOf(options: CommonOptions): SocketLimits {
  const limits: SocketLimits = {
    handshakeTimeout: positive(options.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_LIMITS.handshakeTimeout,
    highWaterMark: positive(options.highWaterMark, 'highWaterMark') ?? DEFAULT_LIMITS.highWaterMark,
  };
  const idleTimeout = atLeastZero(options.idleTimeout, 'idleTimeout') ?? 0;
  const pingInterval = atLeastZero(options.pingInterval, 'pingInterval') ?? Math.floor(idleTimeout / 2);
  if (idleTimeout > 0) limits.idleTimeout = idleTimeout;
  if (pingInterval > 0) limits.pingInterval = pingInterval;
  if (options.rekeyAfter !== undefined) limits.rekeyAfter = rekeyAfterOf(options.rekeyAfter);
  return limits;
}

function atLeastZero(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) throw new CurvetunError('EINVAL', `${name} must be a number of ms, 0 or more`);
  return value;
}

/** Each threshold a positive integer no larger than the protocol's (options may lower them, never raise them). */
function rekeyAfterOf(value: unknown): NonNullable<SocketLimits['rekeyAfter']> {
  if (typeof value !== 'object' || value === null) throw new CurvetunError('EINVAL', 'rekeyAfter is { messages?, bytes?, ms? }');
  const out: NonNullable<SocketLimits['rekeyAfter']> = {};
  for (const name of ['messages', 'bytes', 'ms'] as const) {
    const n = (value as Record<string, unknown>)[name];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > V2_REKEY_AFTER[name]) {
      throw new CurvetunError('EINVAL', `rekeyAfter.${name} must be an integer from 1 to ${V2_REKEY_AFTER[name]}`);
    }
    out[name] = n;
  }
  return out;
}

function protocolsOf(value: unknown): Protocol[] {
  if (value === undefined) return ['v1', 'v2'];
  if (!Array.isArray(value) || value.length === 0 || value.some((p) => p !== 'v1' && p !== 'v2')) {
    throw new CurvetunError('EINVAL', "protocols must be a non-empty list of 'v1' and 'v2'");
  }
  return [...new Set(value as Protocol[])];
}

function suitesOf(postQuantum: unknown): Suite[] {
  if (postQuantum === undefined || postQuantum === true) return [SUITE_CLASSICAL, SUITE_HYBRID];
  if (postQuantum === 'require') return [SUITE_HYBRID];
  if (postQuantum === false) return [SUITE_CLASSICAL];
  throw new CurvetunError('EINVAL', "postQuantum must be true, false or 'require'");
}

function maxMessageBytesOf(value: number | undefined): number {
  if (value === undefined) return DEFAULT_V2_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(value) || value < 1 || value > V2_MAX_ANNOUNCED_MESSAGE_BYTES) throw new CurvetunError('EINVAL', 'maxMessageBytes must be an integer from 1 to 2^30');
  return value;
}

/**
 * The registry's verdict (`ask`: its verify, or its check for a re-check), with v1 allowed only
 * from a key one of whose allowing lines is `@v1`.
 */
async function verdictFor(ask: (address: string, key: Uint8Array) => Promise<Verdict>, address: string, key: Uint8Array, protocol: Protocol): Promise<Verdict> {
  const verdict = await ask(address, key);
  if (verdict.allowed && protocol === 'v1' && verdict.v1 !== true) {
    return { allowed: false, reason: 'the registry lines allowing this key are v2-only (no @v1 marker)', refusal: 'version-not-allowed' };
  }
  return verdict;
}

function positive(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) throw new CurvetunError('EINVAL', `${name} must be a positive number`);
  return value;
}

/**
 * How the listener re-checks open connections: on demand (`reverify()`), and on every registry
 * reload when `closeRevoked` (a registry that never reloads never asks).
 */
function revocation(registry: Registry, closeRevoked: boolean): Pick<ListenerConfig, 'recheck' | 'watchRegistry'> {
  const ask = (address: string, key: Uint8Array) => (registry.check ?? registry.verify).call(registry, address, key);
  const recheck: ListenerConfig['recheck'] = (address, key, protocol) => verdictFor(ask, address, key, protocol);
  const { on, off } = registry;
  if (!closeRevoked || !on || !off) return { recheck };
  return {
    recheck,
    watchRegistry: (changed) => {
      on.call(registry, 'reload', changed);
      return () => void off.call(registry, 'reload', changed);
    },
  };
}

/**
 * Listen for curvetun clients on `port` (0 picks a free one).
 *
 * @example
 * import { listen } from 'curvetun';
 * const listener = await listen(7000, { registry });
 * for await (const socket of listener) {
 *   for await (const message of socket) await socket.send(message); // echo
 * }
 */
export async function listen(port: number, options: ListenOptions = {}): Promise<Listener> {
  const backend = backendOf(options.crypto);
  const limits = limitsOf(options);
  const host = options.host ?? '127.0.0.1';
  const protocols = protocolsOf(options.protocols);
  const suites = suitesOf(options.postQuantum);
  const maxMessageBytes = maxMessageBytesOf(options.maxMessageBytes);
  const filter = options.allowedAddresses ? AddressFilter.parse(options.allowedAddresses) : null;
  const maxPendingHandshakes = positive(options.maxPendingHandshakes, 'maxPendingHandshakes') ?? DEFAULT_MAX_PENDING_HANDSHAKES;
  // Checked before anything starts: a bad trusted list is the caller's mistake, not a runtime failure.
  const trusted = options.proxyProtocol ? trustedProxies(options.proxyProtocol.trusted) : null;
  const home = defaultHome();
  const vault = options.vault ?? (await home.vault());
  const ownCookies = options.cookies ? null : await startCookieKeeper();
  const cookies = options.cookies ?? ownCookies!;
  const registry = options.acceptAnyClient ? null : options.registry ?? (await home.registry());

  try {
    return await Listener.start(port, host, {
      backend,
      kem: getKem(),
      vault,
      cookies,
      limits,
      keepAlive: keepAliveOptions(options.keepAlive),
      protocols,
      suites,
      maxMessageBytes,
      // acceptAnyClient: every key, over every version in `protocols`.
      authorize: registry ? (address, key, protocol) => verdictFor((a, k) => registry.verify(a, k), address, key, protocol) : async () => ({ allowed: true, v1: true }),
      ...(registry ? revocation(registry, options.closeRevoked !== false) : {}),
      // Synchronous whenever no DNS is needed (an address or network pattern already matches).
      allowAddress: filter ? (address) => filter.allows(address) : () => true,
      ...(trusted ? { proxyProtocol: { trusted, timeoutMs: limits.handshakeTimeout, maxWaiting: maxPendingHandshakes } } : {}),
      maxPendingHandshakes,
      maxPendingPerAddress: positive(options.maxPendingPerAddress, 'maxPendingPerAddress') ?? DEFAULT_MAX_PENDING_PER_ADDRESS,
      backlog: positive(options.backlog, 'backlog') ?? DEFAULT_BACKLOG,
      onClose: async () => {
        await ownCookies?.close();
      },
    });
  } catch (error) {
    await ownCookies?.close();
    throw error;
  }
}

/**
 * Connect to a curvetun server and complete the handshake.
 *
 * @example
 * import { connect } from 'curvetun';
 * const socket = await connect('127.0.0.1', 7000, { serverKey: 'base64 of the server key', timeout: 5000 });
 * await socket.send('ping');
 * console.log(new TextDecoder().decode(await socket.recv({ timeout: 5000 })));
 * await socket.close();
 */
export async function connect(host: string, port: number, options: ConnectOptions = {}): Promise<CurvetunSocket> {
  const backend = backendOf(options.crypto);
  const limits = limitsOf(options);
  const timeout = positive(options.timeout, 'timeout') ?? limits.handshakeTimeout;
  const filter = options.allowedAddresses ? AddressFilter.parse(options.allowedAddresses) : null;
  if (options.lookup !== undefined && typeof options.lookup !== 'function') throw new CurvetunError('EINVAL', 'lookup must be a function');
  if (options.protocol !== undefined && options.protocol !== 'v1' && options.protocol !== 'v2') {
    throw new CurvetunError('EINVAL', "protocol must be 'v1' or 'v2'");
  }
  if (options.postQuantum !== undefined && typeof options.postQuantum !== 'boolean') throw new CurvetunError('EINVAL', 'postQuantum must be true or false');
  const maxMessageBytes = maxMessageBytesOf(options.maxMessageBytes);
  const home = defaultHome();
  let serverKey: Uint8Array | undefined;
  if (typeof options.serverKey === 'string') serverKey = decodePublicKeyText(options.serverKey);
  else if (options.serverKey) serverKey = options.serverKey;
  let registryLine: ConnectConfig['registryLine'];
  // The host's registry line gives the key when none is passed, and the version when none is
  // asked for (read when the registry is consulted anyway, or was passed explicitly). It is asked
  // with the addresses we are about to dial, so it fits the server we reach.
  if (!serverKey || (options.protocol === undefined && options.registry)) {
    const registry = options.registry ?? (await home.registry());
    registryLine = (addresses) =>
      registry.lookupEntry ? registry.lookupEntry(host, addresses) : registry.lookup(host, addresses).then((key) => (key ? { key } : undefined));
  }
  const vault = options.vault ?? (await home.vault());
  return openClientSocket(host, port, {
    backend,
    kem: getKem(),
    vault,
    filter,
    limits,
    keepAlive: keepAliveOptions(options.keepAlive),
    timeout,
    suite: options.postQuantum === false ? SUITE_CLASSICAL : SUITE_HYBRID,
    maxMessageBytes,
    ...(options.protocol ? { protocol: options.protocol } : {}),
    ...(serverKey ? { serverKey } : {}),
    ...(registryLine ? { registryLine } : {}),
    ...(options.lookup ? { lookup: options.lookup } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
