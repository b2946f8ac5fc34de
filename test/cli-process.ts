/**
 * Running the `curvetun` command as a child process, the way a user does (not a test file:
 * helpers for test/cli.test.ts and test/redis.test.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
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
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
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
  /** Wait until stderr contains `text` (bounded); resolves with the first line that does. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Send `signal` (default SIGINT), then the exit code (SIGKILL after 30 s: then null). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/** The `listening` log line of serve, tunnel and echo-server: `… listening address=HOST:PORT …`. */
const LISTENING = /\blistening address=\S*:(\d+)/;

/**
 * Start a long-running command and wait for its `listening address=HOST:PORT` line. `command`
 * replaces the default (the TypeScript sources through tsx), e.g. an installed `curvetun`.
 */
export async function start(args: string[], timeoutMs = 30_000, options: { command?: string[]; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Daemon> {
  const [file, ...pre] = options.command ?? [process.execPath, ...BIN];
  const child = spawn(file!, [...pre, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const waitFor = async (text: string | RegExp, ms = 20_000) => {
    const deadline = Date.now() + ms;
    const matches = (line: string) => (typeof text === 'string' ? line.includes(text) : text.test(line));
    for (;;) {
      const line = err.split('\n').find(matches);
      if (line !== undefined) return line;
      if (Date.now() > deadline) throw new Error(`no "${String(text)}" on stderr within ${ms} ms; stderr: ${err}`);
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let port: number;
  try {
    port = Number(LISTENING.exec(await waitFor(LISTENING, timeoutMs))![1]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    child,
    stderr: () => err,
    waitFor,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
