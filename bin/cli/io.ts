/** What a command may touch of the process: output lines, log lines, stdin, the environment, signals. */
import type { Readable, Writable } from 'node:stream';
import type { Signals } from './signals.js';

export interface Io {
  /** One line to stdout (results). */
  out(line: string): void;
  /** One line to stderr (status and failures, prefixed `curvetun: `). */
  err(line: string): void;
  /** One log line to stderr, as it is (cli/log.ts formats it). */
  log(line: string): void;
  stdin: Readable;
  stdout: Writable;
  env: NodeJS.ProcessEnv;
  signals: Signals;
}

export function processIo(signals: Signals): Io {
  return {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`curvetun: ${line}\n`),
    log: (line) => void process.stderr.write(`${line}\n`),
    stdin: process.stdin,
    stdout: process.stdout,
    env: process.env,
    signals,
  };
}
