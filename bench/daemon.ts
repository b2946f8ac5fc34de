/**
 * Outside programs for the tunnel benchmark (redis, spiped, stunnel, the curvetun CLI): finding
 * them on PATH, starting them, waiting until they serve, and stopping them. Loopback only; every
 * wait is bounded.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';

/** The absolute path of `tool` on PATH, or null (the row that needs it says "not installed"). */
export function which(tool: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, tool);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** `n` different ports that were free a moment ago (for programs that cannot listen on port 0 and say where). */
export async function freePorts(n: number): Promise<number[]> {
  // All held open at once, so no two are the same.
  const servers = Array.from({ length: n }, () => net.createServer());
  await Promise.all(servers.map((server) => new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Whether something on 127.0.0.1:`port` accepts a TCP connection (closed at once). */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('close', () => resolve(false));
    socket.once('error', () => undefined);
  });
}

/**
 * CPU time (user + system, all threads) the processes `pids` have used so far, µs, from
 * /proc/<pid>/stat; NaN where there is no /proc (then the figure is left out, not guessed).
 */
export function cpuMicros(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th (clock ticks; 100/s on Linux).
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10_000;
    } catch {
      return NaN;
    }
  }
  return total;
}

export interface Daemon {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far (for error messages). */
  output(): string;
  /** `signal`, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

export function startDaemon(file: string, args: string[], options: { cwd?: string; signal?: NodeJS.Signals } = {}): Daemon {
  const child = spawn(file, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (error) => (output += `\n${error.message}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(options.signal ?? 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Poll `ready` every 50 ms until it gives a value (not null), the daemon exits, or `ms` pass. */
export async function waitUntil<T>(daemon: Daemon, what: string, ready: () => T | null | Promise<T | null>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await ready();
    if (value !== null) return value;
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new Error(`${what} exited: ${daemon.output().trim().slice(-500)}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${ms} ms: ${daemon.output().trim().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start a daemon and wait until `ready(daemon)` holds (bounded); stopped again if it never does. */
export async function startReady(what: string, file: string, args: string[], ready: (daemon: Daemon) => boolean | Promise<boolean>, options: { cwd?: string; signal?: NodeJS.Signals } = {}): Promise<Daemon> {
  const daemon = startDaemon(file, args, options);
  try {
    await waitUntil(daemon, what, async () => ((await ready(daemon)) ? true : null));
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return daemon;
}

/** Start a daemon and wait until 127.0.0.1:`port` accepts connections. */
export function startListening(what: string, file: string, args: string[], port: number): Promise<Daemon> {
  return startReady(what, file, args, () => accepts(port));
}
