/**
 * Running the `curvetun` command as a child process, the way a user does (not a test file:
 * helpers for test/cli.test.ts and test/redis.test.ts). Every bound here only stops a hung command:
 * on a loaded machine a command's start-up (tsx, workers) alone can take tens of seconds.
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
  /** Wait until stderr contains `text` (bounded). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** SIGINT, then the exit code (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

/** Start a long-running command and wait for its `listening on HOST:PORT` line. */
export async function start(args: string[], timeoutMs = 180_000): Promise<Daemon> {
  const child = spawn(process.execPath, [...BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const waitFor = async (text: string | RegExp, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (!(typeof text === 'string' ? err.includes(text) : text.test(err))) {
      if (Date.now() > deadline) throw new Error(`no "${String(text)}" on stderr within ${ms} ms; stderr: ${err}`);
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await waitFor(/listening on [^\s]+:\d+/, timeoutMs);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = Number(/listening on [^\s]+:(\d+)/.exec(err)![1]);
  return {
    port,
    child,
    stderr: () => err,
    waitFor,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
