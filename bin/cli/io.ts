/** What a command may touch of the process: output lines, stdin, the environment, a stop signal. */
import type { Readable, Writable } from 'node:stream';

export interface Io {
  /** One line to stdout (results). */
  out(line: string): void;
  /** One line to stderr (status, prefixed `curvetun: `). */
  err(line: string): void;
  stdin: Readable;
  stdout: Writable;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT / SIGTERM: long-running commands stop cleanly and exit 0. */
  stop: AbortSignal;
}

export function processIo(stop: AbortSignal): Io {
  return {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`curvetun: ${line}\n`),
    stdin: process.stdin,
    stdout: process.stdout,
    env: process.env,
    stop,
  };
}

/** Resolves when `signal` aborts. */
export function stopped(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
