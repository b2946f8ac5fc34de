/**
 * A benchmark child process driven over IPC (server, client, cipher ceiling), and the CPU pinning
 * the benchmarks use: one request at a time, answered by one message.
 */
import { execFileSync, fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';

export class Proc {
  private inbox: unknown[] = [];
  private waiting: ((m: unknown) => void) | null = null;
  constructor(readonly child: ChildProcess) {
    child.on('message', (m) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(m);
      } else this.inbox.push(m);
    });
  }
  /** Fork `script` (relative to bench/) under tsx; `extraExecArgv` e.g. for --cpu-prof. */
  static start(script: string, args: string[], extraExecArgv: string[] = []): Proc {
    const execArgv = ['--import', 'tsx', '--expose-gc', ...extraExecArgv];
    return new Proc(fork(new URL(script, import.meta.url).pathname, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }
  next<T>(timeoutMs = 600_000, what = 'its first message'): Promise<T> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift() as T);
    return new Promise<T>((resolve, reject) => {
      // Name the process and the request: a hang then says where it is.
      const timer = setTimeout(() => reject(new Error(`benchmark process ${this.child.spawnargs.slice(-4).join(' ')} did not answer ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = (m) => {
        clearTimeout(timer);
        resolve(m as T);
      };
    });
  }
  async ask<T>(cmd: string, args: number[] = []): Promise<T> {
    this.child.send({ cmd, args });
    const reply = await this.next<{ ok?: boolean; result?: T; error?: string } & T>(600_000, `'${cmd} ${args.join(' ')}'`);
    if (reply.ok === false) throw new Error(reply.error);
    return (reply.result ?? reply) as T;
  }
  async exit(): Promise<void> {
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit', args: [] });
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
    this.child.kill('SIGKILL');
  }
}

/** Pin a process's main thread to `cpu` ('0', '1', or a range); false where taskset is missing. */
export function pin(p: Proc, cpu: string): boolean {
  try {
    execFileSync('taskset', ['-p', '-c', cpu, String(p.child.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Pin the first process's main thread to CPU 0 and the second's to CPU 1 while `run` runs, as two
 * hosts would be. NaN without taskset or a second CPU: the figure is left out, not guessed.
 */
export async function pinned(first: Proc, second: Proc, run: () => Promise<number>): Promise<number> {
  if (cpus().length < 2 || !pin(first, '0') || !pin(second, '1')) return NaN;
  try {
    return await run();
  } finally {
    const all = `0-${cpus().length - 1}`;
    pin(first, all);
    pin(second, all);
  }
}
