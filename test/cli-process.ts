/**
 * Running the `curvetun` command as a child process, the way a user does, and the parties around
 * it: identities, a plain TCP echo service, clients (not a test file: helpers for test/cli*.test.ts,
 * test/redis.test.ts and test/package.test.ts). Every bound here only stops a hung command: on a loaded machine a
 * command's start-up (tsx, workers) alone can take tens of seconds.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = ['--import', 'tsx', 'bin/curvetun.ts'];

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run one command to completion (killed after `timeoutMs`). */
export function run(args: string[], options: { input?: Uint8Array | string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BIN, ...args], { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: 'pipe' });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export interface Daemon {
  port: number;
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /**
   * Wait until stderr contains `text` (bounded); resolves with the first line that does. With
   * `since` (a `mark()`), only lines written after that mark count: a later event of the same kind
   * must not be answered by an earlier line.
   */
  waitFor(text: string | RegExp, timeoutMs?: number, since?: number): Promise<string>;
  /** Where stderr stands now, for `waitFor(text, undefined, mark)`. */
  mark(): number;
  /** Send `signal` (default SIGINT), then the exit code (SIGKILL after 60 s: then null). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process has exited and its stderr is all read. */
  exited: Promise<number | null>;
}

/** The `listening` log line of serve, tunnel and echo-server, in text (`listening address=HOST:PORT`) or JSON. */
const LISTENING = /\blistening address=\S*:(\d+)|"event":"listening","address":"[^"]*:(\d+)"/;

/**
 * Start a long-running command and wait for its `listening address=HOST:PORT` line (or the
 * `ready` line, for a command that listens nowhere: then `port` is 0). `command` replaces the
 * default (the TypeScript sources through tsx), e.g. an installed `curvetun`.
 */
export async function start(args: string[], timeoutMs = 180_000, options: { command?: string[]; env?: NodeJS.ProcessEnv; cwd?: string; ready?: RegExp } = {}): Promise<Daemon> {
  const [file, ...pre] = options.command ?? [process.execPath, ...BIN];
  const child = spawn(file!, [...pre, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  // 'close', not 'exit': by then every line it wrote (its workers' too, which share the pipe) is in `err`.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const waitFor = async (text: string | RegExp, ms = 120_000, since = 0) => {
    const deadline = Date.now() + ms;
    const matches = (line: string) => (typeof text === 'string' ? line.includes(text) : text.test(line));
    for (;;) {
      const line = err.slice(since).split('\n').find(matches);
      if (line !== undefined) return line;
      if (Date.now() > deadline) throw new Error(`no "${String(text)}" on stderr within ${ms} ms; stderr: ${err}`);
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let port: number;
  try {
    const match = LISTENING.exec(await waitFor(options.ready ?? LISTENING, timeoutMs));
    port = match ? Number(match[1] ?? match[2]) : 0;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    child,
    stderr: () => err,
    waitFor,
    mark: () => err.length,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The base64 body of a secret key file: what must never be printed. */
export function secretOf(home: string): string {
  return readFileSync(join(home, 'id_curvetun'), 'utf8').split('\n').find((l) => /^[A-Za-z0-9+/]{40,}/.test(l))!;
}

export function oneLine(text: string): boolean {
  return text.trim().split('\n').length === 1;
}

export async function keygen(home: string, comment: string): Promise<string> {
  const r = await run(['keygen', '--home', home, '--comment', comment]);
  if (r.code !== 0) throw new Error(`keygen failed: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/**
 * Two identities; each end knows the other's key for 127.0.0.1. `names` are the two homes' names
 * (and key comments); `clientComment` is the comment of the client's line in the server's registry
 * (how a gateway names an agent in `--expose`).
 */
export async function twoEnds(
  dir: string,
  { names = ['server', 'client'], clientComment }: { names?: [string, string]; clientComment?: string } = {},
): Promise<{ server: string; client: string }> {
  const server = join(dir, names[0]);
  const client = join(dir, names[1]);
  await Promise.all([keygen(server, names[0]), keygen(client, names[1])]);
  const comment = clientComment === undefined ? [] : ['--comment', clientComment];
  const a = await run(['registry', 'add', '127.0.0.1', join(client, 'id_curvetun.pub'), ...comment, '--home', server]);
  const b = await run(['registry', 'add', '127.0.0.1', join(server, 'id_curvetun.pub'), '--home', client]);
  if (a.code !== 0 || b.code !== 0) throw new Error(`registry add failed: ${a.stderr} ${b.stderr}`);
  return { server, client };
}

/** A port on 127.0.0.1 that was free a moment ago (for programs that cannot listen on port 0 and say where). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** GET the metrics page. */
export function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (response) => {
      let body = '';
      response.on('data', (c: Buffer) => (body += c.toString()));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${response.statusCode}`))));
    }).on('error', reject);
  });
}

/** The value of one series (`name` with exactly these labels), or undefined when absent. */
export function value(page: string, series: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A plain TCP echo service that counts its connections. */
export async function plainEcho(): Promise<{ server: Server; port: number; connections(): number }> {
  let count = 0;
  const server = createServer((s) => {
    count++;
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, connections: () => count };
}

export async function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  const socket: Socket = tcpConnect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) resolve();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
  socket.write(data);
  await done;
  socket.destroy();
  return Buffer.concat(chunks);
}

/** `start`, with the daemon stopped after the test (registered at once, so a later failure cannot orphan it). */
export async function daemon(t: { teardown(fn: () => Promise<unknown>): void }, args: string[], options: { timeoutMs?: number; command?: string[]; ready?: RegExp } = {}): Promise<Daemon> {
  const started = await start(args, options.timeoutMs, { ...(options.command ? { command: options.command } : {}), ...(options.ready ? { ready: options.ready } : {}) });
  t.teardown(() => started.stop());
  return started;
}
