/**
 * `listen()` and `connect()`: turn the public options into the explicit configuration the
 * listener and the client need, filling gaps from the default home (lib/home.ts). This is where the actors
 * (vault, cookie keeper, registry) are wired to the connection code.
 */
import type { CryptoBackend } from './crypto/backend.js';
import { getBackend } from './crypto/index.js';
import { defaultHome } from './home.js';
import { CurvetunError } from './errors.js';
import { DEFAULT_BACKLOG, DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_PENDING_PER_ADDRESS } from './limits.js';
import { decodePublicKeyText } from './keys/text.js';
import { AddressFilter } from './net/index.js';
import { startCookieKeeper } from './cookie/index.js';
import { openClientSocket } from './connection/connect.js';
import type { ConnectConfig } from './connection/connect.js';
import { Listener } from './connection/listener.js';
import type { ConnectOptions, CryptoChoice, ListenOptions } from './connection/options.js';
import { DEFAULT_LIMITS } from './connection/socket.js';
import type { CurvetunSocket, SocketLimits } from './connection/socket.js';
import { KEY_BYTES } from './protocol/index.js';
import type { ListenerConfig } from './connection/listener.js';
import { trustedProxies } from './connection/proxy-accept.js';
import type { Registry } from './registry/types.js';

function backendOf(choice: CryptoChoice | undefined): CryptoBackend {
  if (choice === undefined || typeof choice === 'string') return getBackend(choice ?? 'auto');
  return choice;
}

function limitsOf(options: { handshakeTimeout?: number; highWaterMark?: number }): SocketLimits {
  return {
    handshakeTimeout: positive(options.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_LIMITS.handshakeTimeout,
    highWaterMark: positive(options.highWaterMark, 'highWaterMark') ?? DEFAULT_LIMITS.highWaterMark,
  };
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
  const recheck: ListenerConfig['recheck'] = (address, key) => (registry.check ?? registry.verify).call(registry, address, key);
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
      vault,
      cookies,
      limits,
      authorize: registry ? (address, key) => registry.verify(address, key) : async () => ({ allowed: true }),
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
  const home = defaultHome();
  let serverKey: ConnectConfig['serverKey'];
  if (typeof options.serverKey === 'string') serverKey = decodePublicKeyText(options.serverKey);
  else if (options.serverKey) serverKey = options.serverKey;
  else {
    // Asked with the addresses we are about to dial, so the key fits the server we reach.
    const registry = options.registry ?? (await home.registry());
    serverKey = (addresses) => registry.lookup(host, addresses);
  }
  const vault = options.vault ?? (await home.vault());
  return openClientSocket(host, port, {
    backend,
    vault,
    serverKey,
    filter,
    limits,
    timeout,
    ...(options.lookup ? { lookup: options.lookup } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
