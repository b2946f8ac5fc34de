/** `curvetun echo-server` and `curvetun send` / `cat` (netcat-like: stdin to the peer, the peer to stdout). */
import { listen, connect } from '../../../lib/api.js';
import { CurvetunError } from '../../../lib/errors.js';
import type { CurvetunSocket } from '../../../lib/connection/socket.js';
import { UsageError, formatHostPort, parseHostPort, positiveInt } from '../args.js';
import type { Parsed } from '../args.js';
import { Context } from '../context.js';
import type { Io } from '../io.js';
import { Log, keyField, logFormatOption } from '../log.js';
import type { Metrics } from '../metrics.js';
import { peerFields, runListenerService, startService, watchKnownHosts } from '../service.js';
import type { EndNote } from '../service.js';
import { connectVersion, listenVersions } from '../versions.js';

export async function echoServer(parsed: Parsed, io: Io): Promise<number> {
  if (parsed.positionals.length > 0) throw new UsageError(`echo-server takes no arguments, got "${parsed.positionals[0]}"`);
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const anyClient = parsed.values['any-client'] === true;
  const ctx = new Context(parsed, io.env, { logRegistryProblems: false });
  try {
    const setup = await startService('echo-server', parsed, io, {
      key_file: ctx.keyFile,
      known_hosts: anyClient ? 'none (--any-client)' : ctx.knownHostsFile,
    });
    const { log, metrics } = setup;
    const vault = await ctx.vault();
    const registry = anyClient ? null : await ctx.registry();
    const listener = await listen(at.port, { host: at.host, vault, ...listenVersions(parsed), ...(registry ? { registry } : { acceptAnyClient: true }) });
    metrics.watchWorkers({ vault: vault.actor, ...(registry ? { registry: registry.actor } : {}) });
    metrics.watchListener(listener);
    const knownHosts = registry ? watchKnownHosts(registry, ctx.knownHostsFile, log) : null;
    const bound = listener.address();
    log.info('listening', { address: formatHostPort(bound.address, bound.port), key: keyField(vault.publicKey) });
    return await runListenerService(io, setup, listener, knownHosts, (socket, note) => echo(socket, note, log, metrics));
  } finally {
    await ctx.close();
  }
}

async function echo(socket: CurvetunSocket, note: EndNote, log: Log, metrics: Metrics): Promise<void> {
  const who = peerFields(socket);
  const startedAt = Date.now();
  let bytes = 0;
  log.info('accepted', who);
  try {
    for await (const message of socket) {
      bytes += message.length;
      metrics.bytes('up', message.length);
      await socket.send(message);
      metrics.bytes('down', message.length);
    }
  } catch {
    // The close reason is logged below.
  }
  await socket.close();
  log.info('closed', { ...who, up: bytes, down: bytes, duration_ms: Date.now() - startedAt, reason: note.reason ?? socket.closeReason?.message ?? 'closed' });
}

export async function send(parsed: Parsed, io: Io): Promise<number> {
  const [target, extra] = parsed.positionals;
  if (extra !== undefined) throw new UsageError(`send: unexpected argument "${extra}"`);
  const to = parseHostPort(target, 'HOST:PORT');
  const wait = positiveInt(parsed.values.wait, 'wait', 1000);
  const timeout = positiveInt(parsed.values.timeout, 'timeout', 10_000);
  // Only with --verbose: a line when connected and one when closed, as the services log them.
  const log = new Log(io.log, logFormatOption(parsed.values['log-format']), parsed.values.verbose === true);
  const stop = io.signals.stop;
  const ctx = new Context(parsed, io.env);
  try {
    const serverKey = await ctx.serverKey(parsed.values['server-key'], to.host);
    const vault = await ctx.vault();
    const keySource = await ctx.serverKeySource(parsed.values['server-key'], serverKey);
    const socket = await connect(to.host, to.port, { ...keySource, vault, timeout, signal: stop, ...connectVersion(parsed) });
    const stream = socket.stream();
    const startedAt = Date.now();
    let up = 0;
    let down = 0;
    const who = { peer: formatHostPort(to.host, to.port), server_key: keyField(socket.peerKey) };
    log.debug('connected', who);
    const done = new Promise<Error | null>((resolve) => {
      stream.on('error', resolve);
      stream.on('close', () => resolve(null));
    });
    // After stdin ends there is no way to tell the peer (no half-close): wait until it has been
    // quiet for --wait ms, or closes, then close.
    let idle: NodeJS.Timeout | null = null;
    let inputEnded = false;
    let endedHere = false;
    const armIdle = () => {
      if (!inputEnded) return;
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => {
        endedHere = true;
        stream.end();
      }, wait);
    };
    stream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      armIdle();
    });
    stream.pipe(io.stdout, { end: false });
    io.stdin.on('data', (chunk: Buffer) => (up += chunk.length));
    io.stdin.pipe(stream, { end: false });
    io.stdin.once('end', () => {
      inputEnded = true;
      armIdle();
    });
    stop.addEventListener('abort', () => stream.destroy(), { once: true });
    const error = await done;
    if (idle) clearTimeout(idle);
    io.stdin.unpipe(stream);
    io.stdin.pause();
    log.debug('closed', { ...who, up, down, duration_ms: Date.now() - startedAt, reason: socket.closeReason?.message ?? 'closed' });
    const reason = socket.closeReason;
    // A stream error after the connection closed (stdin still writing into it) says less than why
    // the connection closed: report that.
    if (error) throw reason ?? error;
    if (reason && reason.code !== 'ECLOSED') throw reason;
    // Closed by the server before it said anything: most likely it refused our key.
    if (!endedHere && !stop.aborted && down === 0 && reason) throw reason;
    return 0;
  } catch (error) {
    if (stop.aborted && (error as CurvetunError).code === 'EABORTED') return 0;
    throw error;
  } finally {
    await ctx.close();
  }
}
