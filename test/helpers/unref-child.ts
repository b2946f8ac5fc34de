/**
 * Runs test/fixtures/unref-child.ts: a client process that connects to `listener`, unrefs its
 * socket (and refs it again in mode 'ref') and does nothing more, to check what keeps a process
 * alive. `rekeyMs` turns the v2 key clock on (rekeyAfter.ms). Killed at teardown, and after 300 s.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Listener } from '../../lib/index.js';
import { encodePublicKeyText } from '../../lib/keys/text.js';

export function runUnrefChild(t: ExecutionContext, dir: string, listener: Listener, mode: 'unref' | 'ref', rekeyMs?: number) {
  const keyFile = join(dir, `child-${mode}.key`);
  const args = ['--import', 'tsx', 'test/fixtures/unref-child.ts', String(listener.address().port), encodePublicKeyText(listener.publicKey), keyFile, mode];
  if (rekeyMs !== undefined) args.push(String(rekeyMs));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CURVETUN_HOME: dir } });
  const killer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  t.teardown(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, out: () => out, err: () => err };
}
