/**
 * The safe-nonce counter on disk: reserved ahead of use, shared safely by processes that use the
 * same key file, refusing a corrupt file (the lock itself: test/counter-lock.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { generateKeyFiles } from '../lib/keys/generate.js';
import { FileCounter } from '../lib/vault/counter.js';
import { LocalVault, WorkerVault } from '../lib/vault/index.js';
import { scramble, unscramble } from '../lib/protocol/tea.js';
import { counterOf, scrambleKeyOf, unscrambleBlock } from './helpers/nonces.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'curvetun-counter-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const child = 'test/fixtures/vault-child.ts';
const backend = getBackend('tweetnacl');

function childNonces(file: string, count: number, block: number): Promise<string[]> {
  return run(process.execPath, ['--import', 'tsx', child, file, 'nonces', String(count), String(block)], { timeout: 60_000 }).then((r) =>
    r.stdout.split('\n').filter((l) => l.length > 0),
  );
}

test('the reservation on disk is always ahead of every counter handed out', async (t) => {
  const file = join(dir, 'ahead');
  const vault = await LocalVault.open({ secretKeyFile: file, create: true, counterBlock: 10 });
  t.teardown(() => vault.close());
  const key = scrambleKeyOf(file);
  for (let i = 0; i < 35; i++) {
    const counter = counterOf(await vault.safeNonce(), key);
    const reserved = Number(readFileSync(`${file}.counter`, 'utf8'));
    t.true(reserved > counter, `reserved ${reserved} > handed out ${counter}`);
  }
  // Blocks of 10 for counters 0-34, and the next one reserved ahead once half of the block in use
  // is gone: 40, or 50 once that background reservation has been written.
  const reserved = Number(readFileSync(`${file}.counter`, 'utf8'));
  t.true(reserved === 40 || reserved === 50, `reserved ${reserved}`);
});

test('restarts after crashes, in one process: each generation starts at or above the reservation the last one left on disk', async (t) => {
  const file = join(dir, 'restarts');
  const reservation = () => Number(readFileSync(`${file}.counter`, 'utf8'));
  const seen: number[] = [];
  let left = -1; // the reservation on disk when the previous generation crashed
  // Three generations of the vault on one key file; each "crashes" (is dropped without close())
  // after some nonces: past two blocks, then within its first block, twice in a row.
  for (const [generation, draws] of [25, 3, 3].entries()) {
    const vault = await LocalVault.open({ secretKeyFile: file, create: generation === 0, counterBlock: 10 });
    const key = scrambleKeyOf(file);
    for (let i = 0; i < draws; i++) {
      const counter = counterOf(await vault.safeNonce(), key);
      if (i === 0 && left >= 0) t.true(counter >= left, `generation ${generation} starts at ${counter}, below the reservation ${left} left on disk`);
      t.true(reservation() > counter, `reserved ${reservation()} > handed out ${counter}`);
      seen.push(counter);
    }
    left = reservation();
  }
  t.true(seen.every((c, i) => i === 0 || c > seen[i - 1]!), `counters only go up: ${seen.join(' ')}`);
});

test('two processes drawing nonces from one key file at the same time never share a counter', async (t) => {
  t.timeout(90_000);
  const file = join(dir, 'shared');
  generateKeyFiles(file, backend, 'shared');
  const [a, b] = await Promise.all([childNonces(file, 1500, 16), childNonces(file, 1500, 16)]);
  t.is(a.length, 1500);
  t.is(b.length, 1500);
  const key = scrambleKeyOf(file);
  const ca = a.map((hex) => counterOf(new Uint8Array(Buffer.from(hex, 'hex')), key));
  const cb = b.map((hex) => counterOf(new Uint8Array(Buffer.from(hex, 'hex')), key));
  const all = new Set([...ca, ...cb]);
  t.is(all.size, 3000, 'no counter was handed out by both processes');
  for (const list of [ca, cb]) t.true(list.every((c, i) => i === 0 || c > list[i - 1]!), 'each process counts upwards');
  t.true(Number(readFileSync(`${file}.counter`, 'utf8')) > Math.max(...all));
});

test('a corrupt counter file stops the vault from opening (EIO), it never guesses', async (t) => {
  const file = join(dir, 'corrupt');
  generateKeyFiles(file, backend, 'corrupt');
  for (const text of ['', 'twelve\n', '-5\n', '1e9\n', '99999999999999999999\n']) {
    writeFileSync(`${file}.counter`, text, { mode: 0o600 });
    const local = await t.throwsAsync(LocalVault.open({ secretKeyFile: file }), { instanceOf: CurvetunError });
    t.is(local!.code, 'EIO', JSON.stringify(text));
  }
  const worker = await t.throwsAsync(WorkerVault.open({ secretKeyFile: file }), { instanceOf: CurvetunError });
  t.is(worker!.code, 'EIO');
  t.regex(worker!.message, /corrupt/);
});

test('a counter block that is not a positive integer is EINVAL', (t) => {
  for (const block of [0, -1, 1.5, Number.NaN]) {
    t.is(t.throws(() => new FileCounter(join(dir, 'never'), block), { instanceOf: CurvetunError })!.code, 'EINVAL');
  }
});

test('the test-side unscramble agrees with the wire vectors and with lib/protocol/tea.ts', (t) => {
  const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
  const seq = (from: number) => new Uint8Array(Array.from({ length: 32 }, (_, i) => from + i));
  t.is(unscrambleBlock(hex('f986c9b87805cd72762943e5c2b51b10'), new Uint8Array(32)).toString('hex'), '00'.repeat(16));
  t.is(unscrambleBlock(hex('92a1e45d3249c40d929d0c4722ed70c9'), seq(0)).toString('hex'), 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
  t.is(counterOf(hex('55afd64c7a6e96c3251fa8f8fe8e4eb6'), seq(0)), 1);
  for (let i = 0; i < 200; i++) {
    const block = backend.randomBytes(16);
    const key = backend.randomBytes(32);
    const scrambled = scramble(block, key);
    t.deepEqual(new Uint8Array(unscrambleBlock(scrambled, key)), block);
    t.deepEqual(new Uint8Array(unscrambleBlock(scrambled, key)), unscramble(scrambled, key));
  }
});
