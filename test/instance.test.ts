/**
 * Instance numbers (lib/vault/instance.ts): copies of one key with different numbers make nonces
 * with no counter in common, even from identical counter files; the number is stored beside the
 * key and a different one is refused; two copies with one number on one machine are refused, in
 * this process or another, and a dead claimant's claim does not hold anyone up; vaults over the
 * same counter file (the workers of one serve) share a number; a handshake with a numbered key
 * is an ordinary v1 handshake.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CurvetunError, connect, listen } from '../lib/index.js';
import { generateKeyFiles } from '../lib/keys/generate.js';
import { getBackend } from '../lib/crypto/index.js';
import { safeNonceBlock, MAX_INSTANCE } from '../lib/protocol/nonce.js';
import { LocalVault, WorkerVault } from '../lib/vault/index.js';
import { counterPartsOf, scrambleKeyOf } from './helpers/nonces.js';
import { echoServer, failure } from './helpers/fixtures.js';
import { daemon, plainEcho, run } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'curvetun-instance-'));
// Claims go to a directory of this test's own, so that nothing here meets another run's.
process.env.CURVETUN_RUN_DIR = join(dir, 'run');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const backend = getBackend('tweetnacl');

/** A key pair made once, and `copies` copies of its two files in their own directories. */
function keyWithCopies(name: string, copies: number): string[] {
  const original = join(dir, name, 'original', 'id_curvetun');
  mkdirSync(join(dir, name, 'original'), { recursive: true });
  generateKeyFiles(original, backend, name);
  return Array.from({ length: copies }, (_, i) => {
    const copy = join(dir, name, `copy${i}`, 'id_curvetun');
    mkdirSync(join(dir, name, `copy${i}`));
    copyFileSync(original, copy);
    copyFileSync(`${original}.pub`, `${copy}.pub`);
    return copy;
  });
}

test('the instance number sits in the top 11 bits of the counter, above 53 bits of the instance\'s own', (t) => {
  const random = new Uint8Array(8).fill(0xaa);
  t.is(Buffer.from(safeNonceBlock(1, random, MAX_INSTANCE)).toString('hex'), `ffe0000000000001${'aa'.repeat(8)}`);
  t.is(Buffer.from(safeNonceBlock(2 ** 53 - 1, random, 1)).toString('hex'), `003fffffffffffff${'aa'.repeat(8)}`);
  t.is(Buffer.from(safeNonceBlock(5, random)).toString('hex'), `0000000000000005${'aa'.repeat(8)}`); // instance 0: the layout from before
  for (const bad of [-1, MAX_INSTANCE + 1, 1.5]) t.throws(() => safeNonceBlock(1, random, bad), { instanceOf: CurvetunError, message: /instance number/ });
});

test('two instances with different numbers on one key: the same counters on disk, no nonce counter in common', async (t) => {
  const [a, b] = keyWithCopies('disjoint', 2) as [string, string];
  const key = scrambleKeyOf(a);
  t.deepEqual(scrambleKeyOf(b), key, 'the copies share the scramble key');
  const one = await LocalVault.open({ secretKeyFile: a, instance: 1, counterBlock: 64 });
  const two = await LocalVault.open({ secretKeyFile: b, instance: 2, counterBlock: 64 });
  t.teardown(() => Promise.all([one.close(), two.close()]));
  t.is(one.instance, 1);
  const draw = async (vault: LocalVault) => {
    const parts: { instance: number; counter: number }[] = [];
    for (let i = 0; i < 1_000; i++) parts.push(counterPartsOf(await vault.safeNonce(), key));
    return parts;
  };
  const [fromOne, fromTwo] = [await draw(one), await draw(two)];
  t.true(fromOne.every((p) => p.instance === 1) && fromTwo.every((p) => p.instance === 2));
  // Each copy's own counters are the same numbers (each started its own counter file at 0) …
  t.deepEqual(fromOne.map((p) => p.counter), fromTwo.map((p) => p.counter));
  // … and yet no whole counter, hence no nonce, is in common.
  const whole = (p: { instance: number; counter: number }) => `${p.instance}:${p.counter}`;
  const seen = new Set(fromOne.map(whole));
  t.is(fromTwo.filter((p) => seen.has(whole(p))).length, 0);
  t.is(new Set([...fromOne, ...fromTwo].map(whole)).size, 2_000);
});

test('the number is stored beside the key (0600); later opens use it; another number is refused; a corrupt file is EIO', async (t) => {
  const [file] = keyWithCopies('stored', 1) as [string];
  const first = await LocalVault.open({ secretKeyFile: file, instance: 3 });
  await first.close();
  t.is(readFileSync(`${file}.instance`, 'utf8'), '3\n');
  t.is(statSync(`${file}.instance`).mode & 0o777, 0o600);
  const again = await WorkerVault.open({ secretKeyFile: file });
  t.is(again.instance, 3);
  await again.close();
  const other = await failure(LocalVault.open({ secretKeyFile: file, instance: 4 }));
  t.is(other.code, 'EINVAL');
  t.regex(other.message, /is instance 3 .*refusing to run it as instance 4/);
  t.is((await failure(LocalVault.open({ secretKeyFile: file, instance: MAX_INSTANCE + 1 }))).code, 'EINVAL');
  writeFileSync(`${file}.instance`, 'three\n');
  const corrupt = await failure(LocalVault.open({ secretKeyFile: file }));
  t.is(corrupt.code, 'EIO');
  t.regex(corrupt.message, /corrupt/);
});

/** A child process holding a WorkerVault over `file` as `instance`; resolves once it has opened (or failed). */
function holder(file: string, instance: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/vault-child.ts', file, 'hold'], {
    env: { ...process.env, CURVETUN_TEST_INSTANCE: String(instance) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const opened = new Promise<'opened' | string>((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('opened')) resolve('opened');
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    void exited.then(() => resolve(err));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void exited.then(() => clearTimeout(timer));
  return { child, opened, exited };
}

test('two copies with one number on one machine: EBUSY, from this process or another; a killed claimant holds nobody up', async (t) => {
  const [a, b, c, d] = keyWithCopies('clash', 4) as [string, string, string, string];
  const first = await LocalVault.open({ secretKeyFile: a, instance: 5 });
  const clash = await failure(LocalVault.open({ secretKeyFile: b, instance: 5 }));
  t.is(clash.code, 'EBUSY');
  t.regex(clash.message, new RegExp(`instance 5 of the key SHA256:\\S+ already runs on this machine over another copy of the key \\(process ${process.pid}`));
  const elsewhere = holder(b, 5);
  t.regex(await elsewhere.opened, /^EBUSY: instance 5 of the key/);
  t.is(await elsewhere.exited, 1);
  const six = await LocalVault.open({ secretKeyFile: b, instance: 6 }); // another number is fine
  await six.close();
  await first.close();
  const now = await LocalVault.open({ secretKeyFile: b }); // b is stored as 6 now
  t.is(now.instance, 6);
  await now.close();

  // A claimant killed with SIGKILL leaves its claim behind; it is seen as dead and pruned.
  const killed = holder(c, 7);
  t.is(await killed.opened, 'opened');
  t.is((await failure(LocalVault.open({ secretKeyFile: d, instance: 7 }))).code, 'EBUSY', 'a live holder in another process');
  killed.child.kill('SIGKILL');
  await killed.exited;
  const after = await LocalVault.open({ secretKeyFile: d, instance: 7 });
  await after.close();
  t.pass();
});

test('vaults over the same key file share its number (the workers of one serve), in this process and another', async (t) => {
  const [file] = keyWithCopies('shared', 1) as [string];
  const one = await WorkerVault.open({ secretKeyFile: file, instance: 8, counterBlock: 16 });
  t.teardown(() => one.close());
  const other = holder(file, 8);
  t.teardown(() => void other.child.kill('SIGKILL'));
  t.is(await other.opened, 'opened');
  const two = await LocalVault.open({ secretKeyFile: file, counterBlock: 16 });
  t.teardown(() => two.close());
  t.is(two.instance, 8);
  const key = scrambleKeyOf(file);
  const counters = new Set<number>();
  for (let i = 0; i < 100; i++) for (const vault of [one, two]) counters.add(counterPartsOf(await vault.safeNonce(), key).counter);
  t.is(counters.size, 200, 'the counter lock keeps their reservations apart');
});

test('numbered keys make ordinary handshakes: a numbered server in v1 (its Cookie nonce), a numbered client in v2 (its vouch nonce); the nonces are opaque to the peer', async (t) => {
  const [serverFile, clientFile] = [keyWithCopies('wire-server', 1)[0]!, keyWithCopies('wire-client', 1)[0]!];
  const server = await LocalVault.open({ secretKeyFile: serverFile, instance: MAX_INSTANCE, crypto: 'tweetnacl' });
  const client = await LocalVault.open({ secretKeyFile: clientFile, instance: 5, crypto: 'tweetnacl' });
  const listener = await listen(0, { vault: server, acceptAnyClient: true, crypto: 'tweetnacl' });
  t.teardown(async () => {
    await listener.close();
    await Promise.all([server.close(), client.close()]);
  });
  void echoServer(listener);
  for (const protocol of ['v1', 'v2'] as const) {
    const socket = await connect('127.0.0.1', listener.address().port, { serverKey: server.publicKey, vault: client, crypto: 'tweetnacl', protocol });
    t.is(socket.protocol, protocol);
    await socket.send(`numbered ${protocol}`);
    t.is(Buffer.from(await socket.recv({ timeout: 20_000 })).toString(), `numbered ${protocol}`);
    await socket.close();
  }
});

test.serial('serve --instance: the listening line names it; a second copy with the same number on this machine exits 1 (EBUSY), another number runs', async (t) => {
  const [a, b] = keyWithCopies('cli', 2) as [string, string];
  const upstream = await plainEcho();
  t.teardown(() => void upstream.server.close());
  const args = (key: string, instance: number) => ['serve', '--key', key, '--known-hosts', join(dir, 'cli', 'known_hosts'), '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${upstream.port}`, '--instance', String(instance)];
  const first = await daemon(t, args(a, 3));
  t.regex(first.stderr(), /info listening address=\S+ forward=\S+ key=SHA256:\S+ instance=3/);
  const clash = await run(args(b, 3), { timeoutMs: 180_000 });
  t.is(clash.code, 1, clash.stderr);
  t.regex(clash.stderr, /instance 3 of the key SHA256:\S+ already runs on this machine over another copy of the key .*\(EBUSY\)/);
  t.is(readFileSync(`${a}.instance`, 'utf8'), '3\n');
  t.throws(() => readFileSync(`${b}.instance`), undefined, 'a refused number is not stored');
  const second = await daemon(t, args(b, 4));
  t.regex(second.stderr(), /instance=4/);
});
