/**
 * The vault under faults, with real workers and real processes: a worker killed with calls in
 * flight, a whole process killed with SIGKILL, a supervisor that gives up, and a program that
 * only opens a vault and must still exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { WorkerVault } from '../lib/vault/index.js';
import { counterOf, scrambleKeyOf } from './helpers/nonces.js';

const dir = mkdtempSync(join(tmpdir(), 'curvetun-vault-faults-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const child = 'test/fixtures/vault-child.ts';

test('a vault worker killed with calls in flight: typed errors, a restart, and counters only go up', async (t) => {
  const file = join(dir, 'killed');
  const vault = await WorkerVault.open({ secretKeyFile: file, create: true, counterBlock: 16 });
  t.teardown(() => vault.close());
  const restarted = new Promise<void>((resolve) => vault.actor.on('restart', () => resolve()));

  const before = await Promise.all(Array.from({ length: 100 }, () => vault.safeNonce()));
  const inFlight = Array.from({ length: 500 }, () => vault.safeNonce().then((n) => ({ n }), (e: unknown) => ({ e })));
  await vault.actor.kill();
  const settled = await Promise.all(inFlight);
  const failed = settled.filter((s): s is { e: unknown } => 'e' in s);
  const served = settled.filter((s): s is { n: Uint8Array } => 'n' in s).map((s) => s.n);
  t.true(failed.length > 0, 'some calls were in flight when the worker died');
  for (const f of failed) {
    t.true(f.e instanceof CurvetunError);
    t.is((f.e as CurvetunError).code, 'EACTOR');
  }
  await restarted;
  const after = await Promise.all(Array.from({ length: 100 }, () => vault.safeNonce()));
  const key = scrambleKeyOf(file);
  const maxBefore = Math.max(...[...before, ...served].map((n) => counterOf(n, key)));
  const minAfter = Math.min(...after.map((n) => counterOf(n, key)));
  t.true(minAfter > maxBefore, `after restart ${minAfter} > before ${maxBefore}`);
});

test('the supervisor gives up after too many restarts in its window; every call then fails with EACTOR', async (t) => {
  const vault = await WorkerVault.open({
    secretKeyFile: join(dir, 'giveup'),
    create: true,
    restart: { maxRestarts: 2, windowMs: 60_000, backoffMs: 5 },
  });
  t.teardown(() => vault.close());
  const gaveUp = new Promise<void>((resolve) => vault.actor.on('give-up', () => resolve()));
  for (let i = 0; i < 3; i++) {
    const restarted = new Promise<void>((resolve) => {
      vault.actor.on('restart', () => resolve());
      vault.actor.on('give-up', () => resolve());
    });
    await vault.actor.kill();
    await restarted;
  }
  await gaveUp;
  const error = await t.throwsAsync(vault.safeNonce(), { instanceOf: CurvetunError });
  t.is(error!.code, 'EACTOR');
  t.regex(error!.message, /gave up/);
});

test('a vault worker that cannot restart (its key file is gone) gives up with the reason, and never makes a new key', async (t) => {
  const file = join(dir, 'vanishing');
  // create: true must only apply to the first start: a restart that made a fresh key would
  // silently change the identity behind an open vault.
  const vault = await WorkerVault.open({ secretKeyFile: file, create: true, restart: { maxRestarts: 2, windowMs: 60_000, backoffMs: 5 } });
  t.teardown(() => vault.close());
  let gaveUp = false;
  vault.actor.on('give-up', () => (gaveUp = true));
  rmSync(file);
  await vault.actor.kill();
  // Made during the restarts: it waits for them, then fails with the supervisor's reason.
  const error = await t.throwsAsync(vault.actor.call('safeNonce', undefined, { timeoutMs: 60_000 }), { instanceOf: CurvetunError });
  t.true(gaveUp, `${error?.code}: ${error?.message}`);
  t.is(error!.code, 'EACTOR');
  t.regex(error!.message, /gave up; its last start failed: no secret key file at .*vanishing \(EKEY\)/);
  t.false(existsSync(file), 'no new key was made');
});

test('a process killed with SIGKILL while handing out nonces never reuses a counter after restart', async (t) => {
  t.timeout(60_000);
  const file = join(dir, 'sigkill');
  const run = (limit: number, killAfter?: number) =>
    new Promise<string[]>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', child, file, 'nonces', String(limit), '16'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines: string[] = [];
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        lines.push(line);
        if (killAfter !== undefined && lines.length === killAfter) proc.kill('SIGKILL');
      });
      proc.once('error', reject);
      proc.once('close', () => resolve(lines));
    });
  const seen: string[] = [];
  for (let round = 0; round < 3; round++) seen.push(...(await run(100_000, 200 + round * 37)));
  seen.push(...(await run(100)));
  const key = scrambleKeyOf(file);
  const counters = seen.map((hex) => counterOf(new Uint8Array(Buffer.from(hex, 'hex')), key));
  t.is(new Set(counters).size, counters.length, 'no counter was handed out twice');
  let increasing = true;
  for (let i = 1; i < counters.length; i++) if (counters[i]! <= counters[i - 1]!) increasing = false;
  t.true(increasing, 'across kills, every counter is above all earlier ones');
});

test('a program that only opens a vault exits by itself', (t) => {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', child, join(dir, 'idle'), 'idle'], { encoding: 'utf8', timeout: 20_000 });
  t.is(result.signal, null, 'it had to be killed: the process did not exit by itself');
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.trim(), 'opened');
  t.true(Date.now() - started < 20_000);
});
