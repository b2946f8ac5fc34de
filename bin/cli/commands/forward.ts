/**
 * `curvetun serve` (server end: authenticated curvetun clients → a plain TCP service) and
 * `curvetun tunnel` (client end: a local TCP port → curvetun → serve).
 */
import { createServer } from 'node:net';
import type { Socket as TcpSocket } from 'node:net';
import { once } from 'node:events';
import { listen, connect } from '../../../lib/api.js';
import type { ConnectOptions } from '../../../lib/connection/options.js';
import type { CurvetunSocket } from '../../../lib/connection/socket.js';
import { CurvetunError, systemError } from '../../../lib/errors.js';
import { encodePublicKeyText } from '../../../lib/keys/text.js';
import { AddressFilter } from '../../../lib/net/index.js';
import { dialInOrder, resolveAllowed } from '../../../lib/net/dial.js';
import type { Dialling } from '../../../lib/net/dial.js';
import { forward } from '../../../lib/stream/index.js';
import { UsageError, formatHostPort, list, parseHostPort, positiveInt } from '../args.js';
import type { HostPort, Parsed } from '../args.js';
import { Context } from '../context.js';
import { stopped } from '../io.js';
import type { Io } from '../io.js';
import { reportClose, reportOpen } from '../status.js';

/** Forward targets allowed when no --allow-forward is given: this machine only. */
export const DEFAULT_FORWARD_ALLOW = ['127.0.0.0/8', '::1', 'localhost'];

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
    dialling = dialInOrder(targets, to.port, { noDelay: true });
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

export async function serve(parsed: Parsed, io: Io): Promise<number> {
  noPositionals(parsed, 'serve');
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const target = parseHostPort(parsed.values.forward as string | undefined, '--forward');
  const maxConnections = positiveInt(parsed.values['max-connections'], 'max-connections', 256);
  const allowForward = list(parsed.values['allow-forward']);
  const allowFrom = list(parsed.values['allow-from']);
  let forwardFilter: AddressFilter;
  try {
    forwardFilter = AddressFilter.parse(allowForward.length > 0 ? allowForward : DEFAULT_FORWARD_ALLOW);
    if (allowFrom.length > 0) AddressFilter.parse(allowFrom);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const targetText = formatHostPort(target.host, target.port);
  // Checked before anything listens, and again on the addresses of each dial (a name may resolve elsewhere later).
  if (!(await forwardFilter.allowsHost(target.host))) {
    throw new CurvetunError('EDENIED', `forward target ${targetText} is not among the allowed addresses (${forwardFilter.patterns.length} pattern(s); see --allow-forward)`);
  }
  const ctx = new Context(parsed, io.env);
  try {
    const vault = await ctx.vault();
    const listener = await listen(at.port, {
      host: at.host,
      vault,
      registry: await ctx.registry(),
      ...(allowFrom.length > 0 ? { allowedAddresses: allowFrom } : {}),
    });
    // Refused and failed handshakes (unknown key, bad packets) are worth a line in verbose mode.
    listener.on('handshakeError', (error, address) => {
      if (ctx.verbose) io.err(`refused ${address}: ${error.message}`);
    });
    const bound = listener.address();
    io.err(`serve listening on ${formatHostPort(bound.address, bound.port)} -> ${targetText} key ${encodePublicKeyText(vault.publicKey)}`);
    const open = new Set<CurvetunSocket>();
    const loop = (async () => {
      for await (const socket of listener) {
        if (open.size >= maxConnections) {
          void socket.close();
          continue;
        }
        open.add(socket);
        void serveOne(socket, target, forwardFilter, io, ctx.verbose).finally(() => open.delete(socket));
      }
    })();
    await stopped(io.stop);
    await listener.close();
    await loop.catch(() => undefined);
    await Promise.all([...open].map((s) => s.close()));
    return 0;
  } finally {
    await ctx.close();
  }
}

async function serveOne(socket: CurvetunSocket, target: HostPort, filter: AddressFilter, io: Io, verbose: boolean): Promise<void> {
  const info = { address: socket.remoteAddress, port: socket.remotePort, peerKey: socket.peerKey };
  const targetText = formatHostPort(target.host, target.port);
  const startedAt = Date.now();
  reportOpen(io, verbose, info, targetText);
  let upstream: TcpSocket;
  try {
    upstream = await dial(target, filter, 10_000);
  } catch (error) {
    await socket.close();
    io.err(`${formatHostPort(info.address, info.port)}: ${(error as Error).message}`);
    return;
  }
  const stats = await forward(upstream, socket.stream());
  reportClose(io, verbose, info, stats.tunnelToTcp, stats.tcpToTunnel, startedAt, stats.end);
}

export async function tunnel(parsed: Parsed, io: Io): Promise<number> {
  noPositionals(parsed, 'tunnel');
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const to = parseHostPort(parsed.values.to as string | undefined, '--to');
  const maxConnections = positiveInt(parsed.values['max-connections'], 'max-connections', 256);
  const timeout = positiveInt(parsed.values.timeout, 'timeout', 10_000);
  const ctx = new Context(parsed, io.env);
  try {
    // Fail at start, not per connection, when the key or the server key is missing.
    const serverKey = await ctx.serverKey(parsed.values['server-key'], to.host);
    const vault = await ctx.vault();
    const keySource = await ctx.serverKeySource(parsed.values['server-key'], serverKey);
    const toText = formatHostPort(to.host, to.port);
    const open = new Set<TcpSocket>();
    const server = createServer({ pauseOnConnect: true }, (local) => {
      if (open.size >= maxConnections) {
        local.destroy();
        return;
      }
      open.add(local);
      void tunnelOne(local, to, { ...keySource, vault, timeout }, io, ctx.verbose).finally(() => open.delete(local));
    });
    server.listen(at.port, at.host);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(listenError(e as NodeJS.ErrnoException, at)))]);
    const bound = server.address();
    const port = typeof bound === 'object' && bound ? bound.port : at.port;
    io.err(`tunnel listening on ${formatHostPort(at.host, port)} -> ${toText} server key ${encodePublicKeyText(serverKey)}`);
    await stopped(io.stop);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const local of open) local.destroy();
    await closed;
    return 0;
  } finally {
    await ctx.close();
  }
}

function listenError(error: NodeJS.ErrnoException, at: HostPort): CurvetunError {
  return systemError('EIO', `cannot listen on ${formatHostPort(at.host, at.port)}: ${error.code ?? error.message}`, error);
}

async function tunnelOne(
  local: TcpSocket,
  to: HostPort,
  options: Pick<ConnectOptions, 'serverKey' | 'registry' | 'vault' | 'timeout'>,
  io: Io,
  verbose: boolean,
): Promise<void> {
  const info: { address: string; port: number; peerKey?: Uint8Array } = { address: local.remoteAddress ?? '', port: local.remotePort ?? 0 };
  const startedAt = Date.now();
  local.on('error', () => undefined);
  let socket: CurvetunSocket;
  try {
    socket = await connect(to.host, to.port, options);
  } catch (error) {
    local.destroy();
    io.err(`${formatHostPort(info.address, info.port)}: ${(error as Error).message}`);
    return;
  }
  info.peerKey = socket.peerKey;
  reportOpen(io, verbose, info, formatHostPort(to.host, to.port));
  local.setNoDelay(true);
  const stats = await forward(local, socket.stream());
  reportClose(io, verbose, info, stats.tcpToTunnel, stats.tunnelToTcp, startedAt, stats.end === 'closed' ? socket.closeReason?.message ?? 'closed' : stats.end);
}
