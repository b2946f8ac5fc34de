/** `curvetun echo-server` and `curvetun send` / `cat` (netcat-like: stdin to the peer, the peer to stdout). */
import { listen, connect } from '../../../lib/api.js';
import { CurvetunError } from '../../../lib/errors.js';
import { encodePublicKeyText } from '../../../lib/keys/text.js';
import type { CurvetunSocket } from '../../../lib/connection/socket.js';
import { UsageError, formatHostPort, parseHostPort, positiveInt } from '../args.js';
import type { Parsed } from '../args.js';
import { Context } from '../context.js';
import { stopped } from '../io.js';
import type { Io } from '../io.js';
import { reportClose, reportOpen } from '../status.js';

export async function echoServer(parsed: Parsed, io: Io): Promise<number> {
  if (parsed.positionals.length > 0) throw new UsageError(`echo-server takes no arguments, got "${parsed.positionals[0]}"`);
  const at = parseHostPort(parsed.values.listen as string | undefined, '--listen');
  const maxConnections = positiveInt(parsed.values['max-connections'], 'max-connections', 256);
  const ctx = new Context(parsed, io.env);
  try {
    const vault = await ctx.vault();
    const anyClient = parsed.values['any-client'] === true;
    const listener = await listen(at.port, { host: at.host, vault, ...(anyClient ? { acceptAnyClient: true } : { registry: await ctx.registry() }) });
    // Refused and failed handshakes (unknown key, bad packets) are worth a line in verbose mode.
    listener.on('handshakeError', (error, address) => {
      if (ctx.verbose) io.err(`refused ${address}: ${error.message}`);
    });
    const bound = listener.address();
    io.err(`echo-server listening on ${formatHostPort(bound.address, bound.port)} key ${encodePublicKeyText(vault.publicKey)}`);
    const open = new Set<CurvetunSocket>();
    const loop = (async () => {
      for await (const socket of listener) {
        if (open.size >= maxConnections) {
          void socket.close();
          continue;
        }
        open.add(socket);
        void echo(socket, io, ctx.verbose).finally(() => open.delete(socket));
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

async function echo(socket: CurvetunSocket, io: Io, verbose: boolean): Promise<void> {
  const info = { address: socket.remoteAddress, port: socket.remotePort, peerKey: socket.peerKey };
  const startedAt = Date.now();
  let bytes = 0;
  reportOpen(io, verbose, info, 'echo');
  try {
    for await (const message of socket) {
      bytes += message.length;
      await socket.send(message);
    }
  } catch {
    // The close reason is reported below.
  }
  await socket.close();
  reportClose(io, verbose, info, bytes, bytes, startedAt, socket.closeReason?.message ?? 'closed');
}

export async function send(parsed: Parsed, io: Io): Promise<number> {
  const [target, extra] = parsed.positionals;
  if (extra !== undefined) throw new UsageError(`send: unexpected argument "${extra}"`);
  const to = parseHostPort(target, 'HOST:PORT');
  const wait = positiveInt(parsed.values.wait, 'wait', 1000);
  const timeout = positiveInt(parsed.values.timeout, 'timeout', 10_000);
  const ctx = new Context(parsed, io.env);
  try {
    const serverKey = await ctx.serverKey(parsed.values['server-key'], to.host);
    const vault = await ctx.vault();
    const keySource = await ctx.serverKeySource(parsed.values['server-key'], serverKey);
    const socket = await connect(to.host, to.port, { ...keySource, vault, timeout, signal: io.stop });
    const stream = socket.stream();
    const startedAt = Date.now();
    let up = 0;
    let down = 0;
    reportOpen(io, ctx.verbose, { address: to.host, port: to.port, peerKey: socket.peerKey }, 'stdout');
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
    io.stop.addEventListener('abort', () => stream.destroy(), { once: true });
    const error = await done;
    if (idle) clearTimeout(idle);
    io.stdin.unpipe(stream);
    io.stdin.pause();
    reportClose(io, ctx.verbose, { address: to.host, port: to.port, peerKey: socket.peerKey }, up, down, startedAt, socket.closeReason?.message ?? 'closed');
    const reason = socket.closeReason;
    // A stream error after the connection closed (stdin still writing into it) says less than why
    // the connection closed: report that.
    if (error) throw reason ?? error;
    if (reason && reason.code !== 'ECLOSED') throw reason;
    // Closed by the server before it said anything: most likely it refused our key.
    if (!endedHere && !io.stop.aborted && down === 0 && reason) throw reason;
    return 0;
  } catch (error) {
    if (io.stop.aborted && (error as CurvetunError).code === 'EABORTED') return 0;
    throw error;
  } finally {
    await ctx.close();
  }
}
