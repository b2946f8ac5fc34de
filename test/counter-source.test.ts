/**
 * The counter sources themselves, in process: MemoryCounter's sequence; FileCounter's contiguous
 * blocks, the reservation ahead that keeps the disk out of next() (written once half the block is
 * used), ready(), the file never behind nor more than two blocks ahead, unreadable and corrupt
 * files, the block bounds and exhaustion (vaults and processes: test/vault-counter.test.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { FileCounter, MemoryCounter } from '../lib/vault/counter.js';

const dir = mkdtempSync(join(tmpdir(), 'curvetun-counter-source-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(dir, `counter-${files++}`);
/** The reservation on disk; 0 while there is no file (as FileCounter reads it). */
const onDisk = (file: string) => (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0);

/**
 * Wait for the background reservation, if one runs (a private promise): whether next() then has
 * a counter at hand depends on the code, never on how fast this machine's disk is.
 */
async function reservationDone(counter: FileCounter): Promise<void> {
  await (counter as unknown as { reserving: Promise<void> | null }).reserving;
}

/** A promise settles without any I/O if it does within a run of microtasks (no I/O callback can run in between). */
async function settlesWithoutIo<T>(promise: Promise<T>): Promise<{ value: T } | null> {
  let result: { value: T } | null = null;
  void promise.then((value) => (result = { value }));
  for (let i = 0; i < 50 && result === null; i++) await null;
  return result;
}

/**
 * Draw `count` counters, letting the reservation ahead finish after each, and check every draw:
 * a number (within a block) or, at a switch to the block reserved ahead, a promise that settles
 * without waiting for the disk; the file never behind what was handed out, nor more than two
 * blocks ahead of it.
 */
async function drawHidingTheDisk(t: ExecutionContext, counter: FileCounter, file: string, block: number, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) {
    const drawn = counter.next();
    let value: number;
    if (typeof drawn === 'number') value = drawn;
    else {
      t.true(i > 0 && i % block === 0, `draw ${i} (inside a block) returned a promise instead of a number`);
      const settled = await settlesWithoutIo(drawn);
      if (settled === null) {
        t.fail(`draw ${i}: the block reserved ahead was not used; next() waited for the disk`);
        value = await drawn;
      } else value = settled.value;
    }
    seen.push(value);
    await reservationDone(counter);
    const reserved = onDisk(file);
    t.true(reserved > value, `draw ${i}: the file (${reserved}) is behind the counter handed out (${value})`);
    t.true(reserved <= value + 2 * block, `draw ${i}: the file (${reserved}) is more than two blocks of ${block} ahead of ${value}`);
  }
  return seen;
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

test('MemoryCounter hands out 0, 1, 2, … in order', (t) => {
  const counter = new MemoryCounter();
  t.deepEqual(range(0, 5).map(() => counter.next()), [0, 1, 2, 3, 4]);
});

test('after ready(), the reservation ahead hides the disk: 35 draws from blocks of 10 are exactly 0..34, each a number at hand', async (t) => {
  const file = freshFile();
  const counter = new FileCounter(file, 10);
  await counter.ready();
  t.is(onDisk(file), 10, 'ready() reserved the first block');
  t.deepEqual(await drawHidingTheDisk(t, counter, file, 10, 35), range(0, 35));
});

test('the same without waiting in between: counters awaited back to back across blocks are contiguous, none skipped or repeated', async (t) => {
  const file = freshFile();
  const counter = new FileCounter(file, 10);
  const seen: number[] = [];
  for (let i = 0; i < 35; i++) {
    seen.push(await counter.next());
    t.true(onDisk(file) > seen[i]!, `the file is never behind the counter handed out (${seen[i]})`);
  }
  t.deepEqual(seen, range(0, 35));
});

test('the next block is reserved once half of the block in use is used: not after 4 draws of a block of 10, after the 5th', async (t) => {
  const file = freshFile();
  const counter = new FileCounter(file, 10);
  await counter.ready();
  for (let i = 0; i < 4; i++) {
    t.is(counter.next(), i);
    await reservationDone(counter);
  }
  t.is(onDisk(file), 10, '6 counters left in the block: nothing reserved ahead yet');
  t.is(counter.next(), 4);
  await reservationDone(counter);
  t.is(onDisk(file), 20, '5 left (half the block): the next block is reserved');
  // And only one block ahead, however many draws follow before the switch.
  for (let i = 5; i < 10; i++) {
    t.is(counter.next(), i);
    await reservationDone(counter);
  }
  t.is(onDisk(file), 20);
});

test('ready() reserves the first block once: called again while a block is at hand, it writes nothing', async (t) => {
  const file = freshFile();
  const counter = new FileCounter(file, 10);
  await counter.ready();
  await counter.ready();
  await counter.ready();
  t.is(onDisk(file), 10);
  t.deepEqual(await drawHidingTheDisk(t, counter, file, 10, 25), range(0, 25));
  // With the current block used up and the next one reserved ahead, ready() has nothing to do.
  const beforeSwitch = new FileCounter(freshFile(), 4);
  await beforeSwitch.ready();
  for (let i = 0; i < 4; i++) {
    beforeSwitch.next();
    await reservationDone(beforeSwitch);
  }
  await beforeSwitch.ready();
  t.is(await beforeSwitch.next(), 4);
});

test('a fresh counter without ready() reserves on its first draw, as a promise', async (t) => {
  const file = freshFile();
  const counter = new FileCounter(file, 10);
  const first = counter.next();
  t.true(first instanceof Promise, 'nothing is reserved yet: the first draw must wait for the disk');
  t.is(await first, 0);
  t.is(onDisk(file), 10);
});

test('a counter continues above the reservation left on disk', async (t) => {
  const file = freshFile();
  writeFileSync(file, '1234\n');
  const counter = new FileCounter(file, 10);
  await counter.ready();
  t.is(onDisk(file), 1244);
  t.deepEqual(await drawHidingTheDisk(t, counter, file, 10, 12), range(1234, 12));
});

test('a block of 1 is accepted (each counter its own reservation); 0, negative, fractional or unsafe blocks are EINVAL', async (t) => {
  const file = freshFile();
  const counter = new FileCounter(file, 1);
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    seen.push(await counter.next());
    t.true(onDisk(file) > seen[i]!);
  }
  t.deepEqual(seen, range(0, 5));
  for (const block of [0, -1, 0.5, Number.NaN, 2 ** 53]) {
    t.throws(() => new FileCounter(freshFile(), block), { instanceOf: CurvetunError, code: 'EINVAL' }, `block ${block}`);
  }
});

test('a counter file that cannot be read (a directory in its place) is EIO with the reason as cause, never a counter from 0', async (t) => {
  const file = freshFile();
  mkdirSync(file);
  const error = t.throws(() => new FileCounter(file, 10), { instanceOf: CurvetunError, code: 'EIO' });
  t.is((error?.cause as NodeJS.ErrnoException | undefined)?.code, 'EISDIR');
  t.throws(() => FileCounter.read(file), { instanceOf: CurvetunError, code: 'EIO' });

  // The same when it happens between opening and the next reservation (the read inside the lock).
  const later = freshFile();
  const counter = new FileCounter(later, 10);
  mkdirSync(later);
  const failed = await t.throwsAsync(counter.ready(), { instanceOf: CurvetunError, code: 'EIO' });
  t.is((failed?.cause as NodeJS.ErrnoException | undefined)?.code, 'EISDIR');
  await t.throwsAsync(Promise.resolve(counter.next()), { instanceOf: CurvetunError, code: 'EIO' });
});

test('a corrupt counter file is EIO as corrupt (no cause to report), at open and at the next reservation', async (t) => {
  for (const text of ['', 'twelve\n', '-5\n', '1.5\n', '12345678901234567\n', '9007199254740993\n']) {
    const file = freshFile();
    writeFileSync(file, text);
    const error = t.throws(() => new FileCounter(file, 10), { instanceOf: CurvetunError, code: 'EIO' }, JSON.stringify(text));
    t.regex(error?.message ?? '', /corrupt/);
    t.is(error?.cause, undefined);
  }
  const file = freshFile();
  const counter = new FileCounter(file, 10);
  writeFileSync(file, 'garbage\n');
  const error = await t.throwsAsync(counter.ready(), { instanceOf: CurvetunError, code: 'EIO' });
  t.regex(error?.message ?? '', /corrupt/);
  t.is(readFileSync(file, 'utf8'), 'garbage\n', 'the corrupt file is left as it was');
});

test('near Number.MAX_SAFE_INTEGER: the last whole block is handed out, the next reservation is EIO (exhausted), never a wrap', async (t) => {
  const max = Number.MAX_SAFE_INTEGER;
  const file = freshFile();
  writeFileSync(file, `${max - 10}\n`);
  const counter = new FileCounter(file, 10);
  await counter.ready();
  t.is(onDisk(file), max);
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) seen.push(await counter.next());
  t.deepEqual(seen, range(max - 10, 10));
  await t.throwsAsync(Promise.resolve(counter.next()), { instanceOf: CurvetunError, code: 'EIO', message: /exhausted/ });
  t.is(onDisk(file), max, 'nothing past the safe range was written');

  const short = freshFile();
  writeFileSync(short, `${max - 5}\n`);
  const tooFew = new FileCounter(short, 10);
  await t.throwsAsync(tooFew.ready(), { instanceOf: CurvetunError, code: 'EIO', message: /exhausted/ });
  await t.throwsAsync(Promise.resolve(tooFew.next()), { instanceOf: CurvetunError, code: 'EIO', message: /exhausted/ });
  t.is(onDisk(short), max - 5);
});
