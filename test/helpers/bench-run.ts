/**
 * Running one of the benchmark scripts (bench/run.ts, bench/tunnel.ts) as its own process, without
 * blocking the ava worker (which must keep hearing from it), for the smoke tests.
 */
import { spawn } from 'node:child_process';

export interface BenchRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `node --import tsx <script> ...args`, killed after `killAfterMs`. */
export function runBench(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; killAfterMs: number }): Promise<BenchRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
