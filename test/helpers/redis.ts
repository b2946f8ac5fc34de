/**
 * redis-server, redis-cli and redis-benchmark for the tests that put a real service behind
 * curvetun (test/redis.test.ts, test/agent-cli.test.ts): skipped, with a note saying why, when
 * the binaries are not installed (`.ci/run` installs them).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { TestFn } from 'ava';
import { freePort } from '../cli-process.js';

const REDIS_TOOLS = ['redis-server', 'redis-cli', 'redis-benchmark'];

/** `test.serial` when the redis binaries are on PATH, else `test.skip`, and the note for the title. */
export function redisTests<T>(test: TestFn<T>): { redisTest: TestFn<T>['serial'] | TestFn<T>['skip']; SKIP_NOTE: string } {
  const missing = REDIS_TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) console.log(`redis tests skipped: ${missing.join(', ')} not on PATH`);
  return {
    redisTest: missing.length === 0 ? test.serial : test.skip,
    SKIP_NOTE: missing.length === 0 ? '' : ` [SKIPPED: ${missing.join(', ')} not on PATH; install redis-server and redis-tools]`,
  };
}

export function exec(file: string, args: string[], input?: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined); // it may exit before reading its input (judged by the caller)
    child.stdin?.end(input ?? '');
  });
}


export async function startRedis(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = await exec('redis-cli', ['-p', String(port), 'PING'], undefined, 2000);
    if (r.stdout.trim() === 'PONG') return { port, child };
    await new Promise((res) => setTimeout(res, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not answer PING within 10 s');
}

/** redis-cli against `port`. */
export const cli = (port: number, ...args: string[]) => exec('redis-cli', ['-p', String(port), ...args]);

export async function connectionsReceived(port: number): Promise<number> {
  const info = (await cli(port, 'INFO', 'stats')).stdout;
  return Number(/total_connections_received:(\d+)/.exec(info)![1]);
}

export function requestsPerSecond(output: string, test: string): number {
  const match = new RegExp(`${test}: ([\\d.]+) requests per second`).exec(output);
  return match ? Number(match[1]) : NaN;
}

