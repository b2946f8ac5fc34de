/**
 * The nonce-counter lock (issue 12, item 7): waiting for it never blocks the event loop, a lock of
 * a dead owner is taken over (by exactly one of two racing processes), a live owner's lock never
 * is. Real files, real child processes as lock owners, a real handshake waiting behind the lock
 * while an established session keeps echoing on the same thread.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { connect } from '../lib/index.js';
import type { CurvetunSocket } from '../lib/index.js';
import { generateKeyFiles } from '../lib/keys/generate.js';
import { processStartTime } from '../lib/vault/counter-lock.js';
import { FileCounter } from '../lib/vault/counter.js';
import { LocalVault, WorkerVault } from '../lib/vault/index.js';
import { makeWorld, within } from './helpers/fixtures.js';
import { counterOf, scrambleKeyOf } from './helpers/nonces.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'curvetun-counter-lock-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const backend = getBackend('tweetnacl');
let n = 0;
const fresh = (name: string) => join(dir, `${name}-${n++}`);

/** A live process that holds nothing but its pid: the owner of a lock entry we write for it. */
async function liveProcess(t: ExecutionContext): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  t.teardown(() => void child.kill('SIGKILL'));
  return child as ChildProcess & { pid: number };
}

/** The pid and start time of a process that has exited: a dead owner. */
async function deadProcess(): Promise<{ pid: number; started: string }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
  const started = processStartTime(child.pid!);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  return { pid: child.pid!, started };
}

/** Write lock entry `number` for `counterFile` as its owner `pid` would (held, not released). */
function holdLock(counterFile: string, pid: number, started: string, number = 1_000_000): string {
  const lockDir = `${counterFile}.lock`;
  mkdirSync(lockDir, { recursive: true });
  const entry = join(lockDir, String(number));
  writeFileSync(entry, `${pid} ${started} 1 ${Date.now()}\n`);
  return entry;
}

/** Settled yet? Checked after letting the event loop run `turns` times (order, not time). */
async function settledAfter(p: Promise<unknown>, turns: number): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
  return settled;
}

test.serial('a live session keeps echoing while a handshake waits for a reservation behind a lock held by a live process', async (t) => {
  const world = await makeWorld();
  t.teardown(() => world.dispose());
  const keyFile = join(world.dir, 'server-local.key');
  // An in-process vault, on this very thread: the worst case for a lock that blocks. v1, whose
  // server draws a safe nonce per handshake (a v2 server's handshake needs none).
  const vault = await LocalVault.open({ secretKeyFile: keyFile, create: true, counterBlock: 4 });
  t.teardown(() => vault.close());
  // A handshake deadline beyond anything the wait below can take on a loaded machine.
  const listener = await world.listen({ vault, handshakeTimeout: 300_000 });
  const port = listener.address().port;
  const echo = async (socket: CurvetunSocket) => {
    for await (const m of socket) await socket.send(m);
  };
  const acceptedA = listener.accept({ timeout: 60_000 });
  const a = await connect('127.0.0.1', port, { protocol: 'v1', vault: world.clientVault, serverKey: vault.publicKey, timeout: 60_000 });
  t.teardown(() => a.close());
  void echo(await acceptedA).catch(() => undefined);
  await a.send('before');
  t.is(Buffer.from(await a.recv({ timeout: 60_000 })).toString(), 'before');

  // Another live process holds the counter lock. Use up the block the vault reserved at open
  // (4 counters; the handshake of `a` took one), so the next handshake needs a new reservation.
  const owner = await liveProcess(t);
  const entry = holdLock(`${keyFile}.counter`, owner.pid, processStartTime(owner.pid));
  for (let i = 0; i < 3; i++) await vault.safeNonce();
  const acceptedB = listener.accept({ timeout: 60_000 });
  let bConnected = false;
  const b = connect('127.0.0.1', port, { protocol: 'v1', vault: world.clientVault, serverKey: vault.publicKey, timeout: 60_000 }).then((s) => {
    bConnected = true;
    return s;
  });
  b.catch(() => undefined);

  // The session goes on, round trip after round trip, while the handshake waits for the lock.
  for (let i = 0; i < 30; i++) {
    await a.send(`echo ${i}`);
    t.is(Buffer.from(await a.recv({ timeout: 60_000 })).toString(), `echo ${i}`);
  }
  t.false(bConnected, 'the handshake is still waiting: the lock is held by a live process');
  t.true(existsSync(entry), 'a live owner is never dispossessed');
  t.is(listener.stats.pendingHandshakes, 1);

  // The owner releases it: the reservation goes through and the handshake completes.
  appendFileSync(entry, 'released\n');
  const socketB = await within(b, 60_000, 'the handshake after the release');
  t.teardown(() => socketB.close());
  const serverB = await acceptedB;
  void echo(serverB).catch(() => undefined);
  await socketB.send('after');
  t.is(Buffer.from(await socketB.recv({ timeout: 60_000 })).toString(), 'after');
  t.true(FileCounter.read(`${keyFile}.counter`) >= 8, 'a new block was reserved');
});

test('the vault worker keeps answering other calls while a reservation waits on the lock', async (t) => {
  const file = fresh('worker');
  const vault = await WorkerVault.open({ secretKeyFile: file, create: true, counterBlock: 2, callTimeoutMs: 300_000 });
  t.teardown(() => vault.close());
  const owner = await liveProcess(t);
  const entry = holdLock(`${file}.counter`, owner.pid, processStartTime(owner.pid));
  await vault.safeNonce();
  await vault.safeNonce(); // the block of 2 is used up
  const waiting = vault.safeNonce();
  const peer = backend.keyPair();
  for (let i = 0; i < 20; i++) {
    // open needs no counter: the worker answers it although a reservation is waiting.
    const box = backend.box(new Uint8Array([i]), new Uint8Array(24), vault.publicKey, peer.secretKey);
    t.deepEqual(await vault.open(box, new Uint8Array(24), peer.publicKey), new Uint8Array([i]));
  }
  t.false(await settledAfter(waiting, 10));
  t.true(existsSync(entry), 'a live owner is never dispossessed');
  appendFileSync(entry, 'released\n');
  const nonce = await within(waiting, 60_000, 'the reservation after the release');
  const counter = counterOf(nonce, scrambleKeyOf(file));
  t.true(counter >= 2 && counter < FileCounter.read(`${file}.counter`), `counter ${counter} comes from a new block`);
});

test('a lock left by a dead process is taken over at once; the counter goes on from the reservation', async (t) => {
  const file = fresh('dead');
  writeFileSync(file, '5000\n');
  const dead = await deadProcess();
  const entry = holdLock(file, dead.pid, dead.started, 7);
  const counter = new FileCounter(file, 100);
  t.is(await counter.next(), 5000);
  t.is(await counter.next(), 5001);
  t.true(FileCounter.read(file) >= 5100);
  t.false(existsSync(entry), "the dead owner's entry is gone");
  const left = readdirSync(`${file}.lock`);
  t.deepEqual(left, ['8'], 'our entry, one above the dead one');
  t.regex(readFileSync(join(`${file}.lock`, '8'), 'utf8'), /released/);
});

test('a lock file of the older one-line format left by a dead process is taken over', async (t) => {
  const file = fresh('legacy');
  writeFileSync(file, '300\n');
  const dead = await deadProcess();
  writeFileSync(`${file}.lock`, `${dead.pid} 1\n`);
  const counter = new FileCounter(file, 10);
  t.is(await counter.next(), 300);
  t.true(FileCounter.read(file) >= 310);
});

test("a live process's lock is never taken over, however old; an unreadable entry is, once old", async (t) => {
  const file = fresh('live-old');
  writeFileSync(file, '10\n');
  const owner = await liveProcess(t);
  const entry = holdLock(file, owner.pid, processStartTime(owner.pid));
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(entry, old, old);
  const counter = new FileCounter(file, 10);
  const first = counter.next() as Promise<number>;
  t.false(await settledAfter(first, 50), 'an hour-old entry of a live process still holds');
  t.true(existsSync(entry));
  appendFileSync(entry, 'released\n');
  t.is(await within(first, 60_000, 'the reservation after the release'), 10);

  // An entry a crash left empty (between creating and writing it): old is dead, young is not.
  const other = fresh('empty');
  mkdirSync(`${other}.lock`);
  const empty = join(`${other}.lock`, '3');
  writeFileSync(empty, '');
  utimesSync(empty, old, old);
  t.is(await new FileCounter(other, 10).next(), 0);
});

test('two processes racing to take over one stale lock never hand out the same counter', async (t) => {
  t.timeout(120_000);
  const file = fresh('race');
  generateKeyFiles(file, backend, 'race');
  const dead = await deadProcess();
  holdLock(`${file}.counter`, dead.pid, dead.started, 41);
  const child = 'test/fixtures/vault-child.ts';
  const nonces = () =>
    run(process.execPath, ['--import', 'tsx', child, file, 'nonces', '400', '8'], { timeout: 100_000 }).then((r) => r.stdout.split('\n').filter((l) => l.length > 0));
  const [x, y] = await Promise.all([nonces(), nonces()]);
  const key = scrambleKeyOf(file);
  const all = new Set([...x, ...y].map((hex) => counterOf(new Uint8Array(Buffer.from(hex, 'hex')), key)));
  t.is(x.length + y.length, 800);
  t.is(all.size, 800, 'no counter was handed out by both processes');
  t.true(FileCounter.read(`${file}.counter`) > Math.max(...all));
});
