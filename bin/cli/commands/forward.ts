/**
 * `curvetun serve` (server end: authenticated curvetun clients → a plain TCP service) and
 * `curvetun tunnel` (client end: a local TCP port → curvetun → serve). Both run as services
 * (cli/service.ts): logs, drain on SIGINT/SIGTERM, reload on SIGHUP, metrics.
 */
import { createServer } from 'node:net';
import type { Socket as TcpSocket } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { listen, connect } from '../../../lib/api.js';
import type { ConnectOptions } from '../../../lib/connection/options.js';
import type { CurvetunSocket } from '../../../lib/connection/socket.js';
import { startCookieKeeper } from '../../../lib/cookie/index.js';
import { getBackend } from '../../../lib/crypto/index.js';
import { CurvetunError, systemError } from '../../../lib/errors.js';
import { keysEqual } from '../../../lib/keys/text.js';
import { AddressFilter } from '../../../lib/net/index.js';
import { dialInOrder, resolveAllowed } from '../../../lib/net/dial.js';
import type { Dialling } from '../../../lib/net/dial.js';
import { forward } from '../../../lib/stream/index.js';
import type { ForwardStats } from '../../../lib/stream/index.js';
import { UsageError, boundedInt, formatHostPort, list, parseHostPort, positiveInt } from '../args.js';
import { trustedProxies as trustedProxiesFilter } from '../../../lib/connection/proxy-accept.js';
import { MAX_INSTANCE } from '../../../lib/vault/instance.js';
import type { HostPort, Parsed } from '../args.js';
import { Context } from '../context.js';
import type { Io } from '../io.js';
import { keyField } from '../log.js';
import type { Log } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Connections, peerFields, runListenerService, runUntilStopped, startService, watchKnownHosts } from '../service.js';
import type { EndNote } from '../service.js';
import { connectVersion, listenVersions } from '../versions.js';

/** Forward targets allowed when no --allow-forward is given: this machine only. */
export const DEFAULT_FORWARD_ALLOW = ['127.0.0.0/8', '::1', 'localhost'];

/** `--instance K` (serve, tunnel): this copy's instance number, for the vault (lib/vault/instance.ts). */
function instanceOption(parsed: Parsed): { instance?: number } {
  const instance = boundedInt(parsed.values.instance, 'instance', MAX_INSTANCE);
  return instance === undefined ? {} : { instance };
}

function noPositionals(parsed: Parsed, command: string): void {
  if (parsed.positionals.length > 0) throw new UsageError(`${command} takes no arguments, got "${parsed.positionals[0]}"`);
}

/**
 * Open a TCP connection to the forward target, rejecting on error or after `timeoutMs`. The name
 * is resolved once and only the addresses the filter allowed are dialled (lib/net/dial.ts): a
 * DNS answer that changes between a check and a dial cannot lead elsewhere.
 */
async function dial(to: HostPort, filter: AddressFilter, timeoutMs: number): Promise<TcpSocket> {
  let dialling: Dialling | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new CurvetunError('ETIMEDOUT', `connecting to ${formatHostPort(to.host, to.port)} timed out`);
      dialling?.cancel(error);
      reject(error);
    }, timeoutMs);
  });
  deadline.catch(() => undefined);
  try {
    const targets = await Promise.race([resolveAllowed(to.host, filter), deadline]);
    // Half-open: the service may still answer after the client's FIN (carried through as END).
    dialling = dialInOrder(targets, to.port, { noDelay: true, allowHalfOpen: true });
    return await Promise.race([dialling.socket, deadline]);
  } catch (error) {
    dialling?.socket.then((late) => late.destroy(), () => undefined);
    if (error instanceof CurvetunError) {
      if (error.code === 'EDENIED') throw new CurvetunError('EDENIED', `forward target ${formatHostPort(to.host, to.port)} is no longer among the allowed addresses`);
      throw error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw systemError(code === 'ETIMEDOUT' ? 'ETIMEDOUT' : 'ECLOSED', `cannot connect to ${formatHostPort(to.host, to.port)}: ${code ?? (error as Error).message}`, error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Join `tcp` and `tunnel` (lib/stream/forward.ts), counting bytes into the metrics as they pass.
 * `up` is client → service: for serve that is what the tunnel delivers, for tunnel what TCP does.
 */
function carry(tcp: TcpSocket, tunnel: Duplex, metrics: Metrics, tcpIs: 'up' | 'down'): Promise<ForwardStats> {
  const done = forward(tcp, tunnel); // attaches its own readers first: nothing flows before the pipes exist
  const tunnelIs = tcpIs === 'up' ? 'down' : 'up';
  tcp.on('data', (chunk: Buffer) => metrics.bytes(tcpIs, chunk.length));
  tunnel.on('data', (chunk: Buffer) => metrics.bytes(tunnelIs, chunk.length));
  return done;
}

/**
 * Why a forwarded connection ended, in words: what the service did to it, else the curvetun
 * close reason when it is a failure, else which side closed.
 */
function endReason(note: EndNote, socket: CurvetunSocket, stats: ForwardStats, tcpSide: string): string {
  if (note.reason) return note.reason;
  const reason = socket.closeReason;
  if (reason && reason.code !== 'ECLOSED') return reason.message;
  if (stats.first === 'tunnel') return reason?.message ?? 'the peer closed the connection';
  return stats.end === 'closed' ? `${tcpSide} closed the connection` : `${tcpSide}: ${stats.end}`;
}

export async function serve(parsed: Parsed, io: Io): Promise<number> {
  noPositionals(parsed, 'serve');
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const target = parseHostPort(parsed.values.forward as string | undefined, '--forward');
  const allowForward = list(parsed.values['allow-forward']);
  const allowFrom = list(parsed.values['allow-from']);
  const trustedProxies = list(parsed.values['trusted-proxy']);
  const proxied = parsed.values['proxy-protocol'] === true;
  if (proxied !== trustedProxies.length > 0) throw new UsageError('--proxy-protocol and --trusted-proxy CIDR go together: the header is read only from the balancers named');
  let forwardFilter: AddressFilter;
  try {
    forwardFilter = AddressFilter.parse(allowForward.length > 0 ? allowForward : DEFAULT_FORWARD_ALLOW);
    if (allowFrom.length > 0) AddressFilter.parse(allowFrom);
    if (proxied) trustedProxiesFilter(trustedProxies);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const targetText = formatHostPort(target.host, target.port);
  // Checked before anything listens, and again on the addresses of each dial (a name may resolve elsewhere later).
  if (!(await forwardFilter.allowsHost(target.host))) {
    throw new CurvetunError('EDENIED', `forward target ${targetText} is not among the allowed addresses (${forwardFilter.patterns.length} pattern(s); see --allow-forward)`);
  }
  const ctx = new Context(parsed, io.env, { logRegistryProblems: false, ...instanceOption(parsed) });
  try {
    const setup = await startService('serve', parsed, io, {
      key_file: ctx.keyFile,
      known_hosts: ctx.knownHostsFile,
      crypto: getBackend('auto').name,
    });
    const { log, metrics } = setup;
    const vault = await ctx.vault();
    const registry = await ctx.registry();
    // Our own cookie keeper (not the one listen() would start) so that its restarts are counted.
    const cookies = await startCookieKeeper();
    try {
      const listener = await listen(at.port, {
        host: at.host,
        vault,
        registry,
        cookies,
        ...setup.liveness,
        ...setup.keepAlive,
        ...listenVersions(parsed),
        ...(allowFrom.length > 0 ? { allowedAddresses: allowFrom } : {}),
        ...(proxied ? { proxyProtocol: { trusted: trustedProxies } } : {}),
      });
      metrics.watchWorkers({ vault: vault.actor, registry: registry.actor, 'cookie-keeper': cookies.actor });
      metrics.watchListener(listener);
      const knownHosts = watchKnownHosts(registry, ctx.knownHostsFile, log);
      const bound = listener.address();
      log.info('listening', {
        address: formatHostPort(bound.address, bound.port),
        forward: targetText,
        key: keyField(vault.publicKey),
        ...(vault.instance !== 0 ? { instance: vault.instance } : {}),
        ...(proxied ? { trusted_proxies: trustedProxies.join(',') } : {}),
      });
      return await runListenerService(io, setup, listener, knownHosts, (socket, note) => serveOne(socket, note, target, forwardFilter, log, metrics));
    } finally {
      await cookies.close();
    }
  } finally {
    await ctx.close();
  }
}

async function serveOne(socket: CurvetunSocket, note: EndNote, target: HostPort, filter: AddressFilter, log: Log, metrics: Metrics): Promise<void> {
  const who = peerFields(socket);
  const targetText = formatHostPort(target.host, target.port);
  const startedAt = Date.now();
  log.info('accepted', { ...who, forward: targetText });
  let upstream: TcpSocket;
  try {
    upstream = await dial(target, filter, 10_000);
  } catch (error) {
    await socket.close();
    log.warn('closed', { ...who, up: 0, down: 0, duration_ms: Date.now() - startedAt, reason: (error as Error).message });
    return;
  }
  const stats = await carry(upstream, socket.stream(), metrics, 'down');
  log.info('closed', {
    ...who,
    up: stats.tunnelToTcp,
    down: stats.tcpToTunnel,
    duration_ms: Date.now() - startedAt,
    reason: endReason(note, socket, stats, 'the service'),
  });
}

export async function tunnel(parsed: Parsed, io: Io): Promise<number> {
  noPositionals(parsed, 'tunnel');
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const to = parseHostPort(parsed.values.to as string | undefined, '--to');
  const timeout = positiveInt(parsed.values.timeout, 'timeout', 10_000);
  const ctx = new Context(parsed, io.env, { logRegistryProblems: false, ...instanceOption(parsed) });
  const keyOption = parsed.values['server-key'];
  try {
    const { log, metrics, drainMs, maxConnections, liveness, keepAlive } = await startService('tunnel', parsed, io, {
      key_file: ctx.keyFile,
      known_hosts: ctx.knownHostsFile,
      crypto: getBackend('auto').name,
    });
    // Fail at start, not per connection, when the key or the server key is missing.
    const server = { key: await ctx.serverKey(keyOption, to.host) as Uint8Array | null };
    const vault = await ctx.vault();
    metrics.watchWorkers({ vault: vault.actor });
    const keySource = await ctx.serverKeySource(keyOption, server.key as Uint8Array);
    const version = connectVersion(parsed);
    const toText = formatHostPort(to.host, to.port);
    const connections = new Connections(maxConnections, metrics);
    /** Open sessions and the server key each was made with, to close when known_hosts drops that key. */
    const sessions = new Map<CurvetunSocket, { key: Uint8Array; note: EndNote }>();

    // Without --server-key, known_hosts says which key the server must have; when that changes, so
    // do new connections, and sessions with a key it no longer names are closed.
    let refreshing = Promise.resolve();
    const refreshServerKey = () => (refreshing = refreshing.then(refreshOnce, refreshOnce));
    const refreshOnce = async () => {
      const key = (await (await ctx.registry()).lookup(to.host)) ?? null;
      const before = server.key;
      server.key = key;
      if (!(before && key && keysEqual(before, key))) {
        log.warn('server_key_changed', { to: toText, key: keyField(key ?? undefined) ?? 'none', before: keyField(before ?? undefined) });
      }
      for (const [socket, session] of sessions) {
        // Asked with the address the session dialled, as its connect asked (an address line may rank first).
        const now = await (await ctx.registry()).lookup(to.host, [socket.remoteAddress]).catch(() => undefined);
        if (now && keysEqual(session.key, now)) continue;
        session.note.reason ??= `known_hosts no longer names this key for ${to.host}`;
        void socket.close();
      }
    };
    let knownHosts: ReturnType<typeof watchKnownHosts> | null = null;
    if (typeof keyOption !== 'string') {
      const registry = await ctx.registry();
      knownHosts = watchKnownHosts(registry, ctx.knownHostsFile, log);
      registry.on('reload', () => void refreshServerKey().catch(() => undefined));
    }

    const localServer = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (local) => {
      const peer = formatHostPort(local.remoteAddress ?? '', local.remotePort ?? 0);
      if (connections.full) {
        log.warn('refused', { peer, reason: `too many connections (--max-connections ${maxConnections})` });
        metrics.dropped('too_many_connections');
        local.destroy();
        return;
      }
      connections.run(
        (note) => tunnelOne(local, note, { to, timeout, server, keySource, vault, sessions, version, liveness, keepAlive }, log, metrics),
        () => local.destroy(),
      );
    });
    localServer.listen(at.port, at.host);
    await Promise.race([once(localServer, 'listening'), once(localServer, 'error').then(([e]) => Promise.reject(listenError(e as NodeJS.ErrnoException, at)))]);
    const bound = localServer.address();
    const port = typeof bound === 'object' && bound ? bound.port : at.port;
    log.info('listening', { address: formatHostPort(at.host, port), to: toText, server_key: keyField(server.key ?? undefined) });
    const code = await runUntilStopped(io, log, {
      connections,
      stopAccepting: async () => void localServer.close(),
      reload: async () => {
        if (!knownHosts) {
          log.info('reloaded', { server_key: keyField(server.key ?? undefined), changed: false, note: 'the server key comes from --server-key' });
          return;
        }
        await knownHosts.reload();
        await refreshServerKey();
      },
    }, drainMs);
    await metrics.close();
    return code;
  } finally {
    await ctx.close();
  }
}

function listenError(error: NodeJS.ErrnoException, at: HostPort): CurvetunError {
  return systemError('EIO', `cannot listen on ${formatHostPort(at.host, at.port)}: ${error.code ?? error.message}`, error);
}

interface TunnelParts {
  to: HostPort;
  timeout: number;
  /** The key known_hosts names for the server now (null: none); refreshed on each reload. */
  server: { key: Uint8Array | null };
  /** `--server-key` as given, else the registry: each connect looks the key up with the addresses it dials. */
  keySource: Pick<ConnectOptions, 'serverKey' | 'registry'>;
  vault: Awaited<ReturnType<Context['vault']>>;
  sessions: Map<CurvetunSocket, { key: Uint8Array; note: EndNote }>;
  /** `--protocol` / `--no-post-quantum` (without `--protocol`, the known_hosts line decides). */
  version: Pick<ConnectOptions, 'protocol' | 'postQuantum'>;
  /** --idle-timeout / --ping-interval. */
  liveness: Pick<ConnectOptions, 'idleTimeout' | 'pingInterval'>;
  /** `--keepalive` (absent: connect()'s default). */
  keepAlive: Pick<ConnectOptions, 'keepAlive'>;
}

async function tunnelOne(local: TcpSocket, note: EndNote, parts: TunnelParts, log: Log, metrics: Metrics): Promise<void> {
  const peer = formatHostPort(local.remoteAddress ?? '', local.remotePort ?? 0);
  const toText = formatHostPort(parts.to.host, parts.to.port);
  const startedAt = Date.now();
  local.on('error', () => undefined);
  const known = parts.server.key !== null;
  let socket: CurvetunSocket;
  try {
    if (!known) throw new CurvetunError('EKEY', `known_hosts names no key for ${parts.to.host} any more`);
    socket = await connect(parts.to.host, parts.to.port, { ...parts.keySource, vault: parts.vault, timeout: parts.timeout, ...parts.liveness, ...parts.version, ...parts.keepAlive });
    metrics.clientHandshake((Date.now() - startedAt) / 1000, null);
  } catch (error) {
    if (known) metrics.clientHandshake((Date.now() - startedAt) / 1000, error);
    // Refused or failed (v2 says so at once): close the local side with a plain FIN, after
    // dropping what it sent, so the application sees an empty reply rather than a reset.
    local.resume();
    local.end();
    setTimeout(() => local.destroy(), 2_000).unref();
    log.warn('failed', { peer, to: toText, duration_ms: Date.now() - startedAt, reason: (error as Error).message });
    return;
  }
  parts.sessions.set(socket, { key: socket.peerKey, note });
  log.info('accepted', { peer, to: toText, server_key: keyField(socket.peerKey) });
  local.setNoDelay(true);
  const stats = await carry(local, socket.stream(), metrics, 'up');
  parts.sessions.delete(socket);
  log.info('closed', {
    peer,
    to: toText,
    server_key: keyField(socket.peerKey),
    up: stats.tcpToTunnel,
    down: stats.tunnelToTcp,
    duration_ms: Date.now() - startedAt,
    reason: endReason(note, socket, stats, 'the application'),
  });
}
