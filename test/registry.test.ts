/**
 * The registry worker over real files: verification, lookups, edits written back atomically,
 * reloads on change, a bad line that keeps the old registry in force, and trust on first use.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { writeFileAtomic } from '../lib/fs/atomic.js';
import { encodePublicKeyText } from '../lib/keys/text.js';
import { openRegistry } from '../lib/registry/index.js';
import type { WorkerRegistry } from '../lib/registry/index.js';

const backend = getBackend('tweetnacl');
const dir = mkdtempSync(join(tmpdir(), 'curvetun-registry-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const key = () => backend.keyPair().publicKey;
const text = (k: Uint8Array) => encodePublicKeyText(k);
let n = 0;
const fresh = () => join(dir, `known_hosts.${n++}`);

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until it holds (bounded: 60 × 50 ms). */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (!(error instanceof CurvetunError)) throw error;
    return error.code;
  }
}

async function open(t: { teardown(fn: () => unknown): void }, file: string, options = {}): Promise<WorkerRegistry> {
  const r = await openRegistry({ file, create: true, reloadIntervalMs: 200, logProblems: false, ...options });
  t.teardown(() => r.close());
  return r;
}

test('verify: a key is allowed only from where its lines say', async (t) => {
  const file = fresh();
  const [a, b, c] = [key(), key(), key()];
  writeFileSync(file, `# test\n127.0.0.1 ${text(a)} loopback\n10.0.0.0/8 curvetun-x25519 ${text(b)} office\n* ${text(c)}\n`);
  const r = await open(t, file);
  t.deepEqual(await r.verify('127.0.0.1', a), { allowed: true });
  t.deepEqual(await r.verify('::ffff:127.0.0.1', a), { allowed: true });
  t.false((await r.verify('127.0.0.2', a)).allowed);
  t.true((await r.verify('10.9.8.7', b)).allowed);
  t.false((await r.verify('11.0.0.1', b)).allowed);
  t.true((await r.verify('203.0.113.5', c)).allowed);
  const denied = await r.verify('127.0.0.1', key());
  t.false(denied.allowed);
  t.regex((denied as { reason: string }).reason, /pinned to a different key|no registry entry/);
});

test('lookup: the most specific line wins; names and domains match hosts', async (t) => {
  const file = fresh();
  const [exact, net, dom, any, name] = [key(), key(), key(), key(), key()];
  writeFileSync(
    file,
    [`* ${text(any)}`, `127.0.0.0/8 ${text(net)}`, `127.0.0.1 ${text(exact)}`, `.example.invalid ${text(dom)}`, `db.example.invalid ${text(name)}`].join('\n') + '\n',
  );
  const r = await open(t, file);
  t.deepEqual(await r.lookup('127.0.0.1'), exact);
  t.deepEqual(await r.lookup('127.0.0.9'), net);
  t.deepEqual(await r.lookup('db.example.invalid'), name);
  t.deepEqual(await r.lookup('www.EXAMPLE.invalid'), dom);
  t.deepEqual(await r.lookup('198.51.100.1'), any);
});

test('add and remove are written back atomically, keep comments, and apply at once', async (t) => {
  const file = fresh();
  writeFileSync(file, '# keep me\n');
  const r = await open(t, file);
  const k = key();
  await r.add({ who: '192.0.2.0/24', key: k });
  t.true((await r.verify('192.0.2.77', k)).allowed);
  const written = readFileSync(file, 'utf8');
  t.regex(written, /^# keep me\n192\.0\.2\.0\/24 /);
  t.is(await r.remove('192.0.2.0/24'), 1);
  t.false((await r.verify('192.0.2.77', k)).allowed);
  t.is(readFileSync(file, 'utf8'), '# keep me\n');
  t.deepEqual(await r.list(), []);
});

test('a change on disk is picked up without reopening', async (t) => {
  const file = fresh();
  writeFileSync(file, '');
  const r = await open(t, file);
  const k = key();
  t.false((await r.verify('127.0.0.1', k)).allowed);
  writeFileSync(file, `127.0.0.1 ${text(k)}\n`);
  let allowed = false;
  for (let i = 0; i < 40 && !allowed; i++) {
    await sleep(50);
    allowed = (await r.verify('127.0.0.1', k)).allowed;
  }
  t.true(allowed);
});

test('a bad line keeps the last good registry in force and is reported with file and line', async (t) => {
  const file = fresh();
  const k = key();
  writeFileSync(file, `127.0.0.1 ${text(k)}\n`);
  const r = await open(t, file);
  writeFileSync(file, `127.0.0.1 ${text(k)}\n# fine\n10.0.0.0/99 ${text(key())}\n`);
  let status = await r.status();
  for (let i = 0; i < 40 && !status.lastError; i++) {
    await sleep(50);
    status = await r.status();
  }
  t.is(status.lastError, `${file}:3: '10.0.0.0/99' is not a CIDR network (address/prefix-length)`);
  t.true((await r.verify('127.0.0.1', k)).allowed, 'the old registry is still in force');
  t.is(status.entries, 1);
  // Edits refuse to build on the broken file, naming the line; the worker keeps serving.
  const error = await t.throwsAsync(r.add({ who: '192.0.2.1', key: key() }));
  t.regex(error!.message, /:3:/);
  t.true((await r.verify('127.0.0.1', k)).allowed);
});

test('a key that is not base64 of 32 bytes is a bad line too', async (t) => {
  const file = fresh();
  writeFileSync(file, '127.0.0.1 not-a-key\n');
  const error = await t.throwsAsync(openRegistry({ file }));
  t.regex(error!.message, /:1: the key is not 44 characters of base64/);
  t.is((error as CurvetunError).code, 'EINVAL');
});

test('trust on first use: approved keys are pinned and survive a restart; another key for a pinned address is refused', async (t) => {
  const file = fresh();
  const asked: string[] = [];
  const approve = async ({ remoteAddress }: { remoteAddress: string }) => {
    asked.push(remoteAddress);
    return remoteAddress !== '192.0.2.66';
  };
  const first = await openRegistry({ file, create: true, tofu: { approve }, logProblems: false });
  const k = key();
  t.true((await first.verify('192.0.2.10', k)).allowed);
  t.false((await first.verify('192.0.2.66', key())).allowed); // the hook said no
  t.deepEqual(asked, ['192.0.2.10', '192.0.2.66']);
  await first.close();

  const second = await open(t, file, { tofu: { approve } });
  t.true((await second.verify('192.0.2.10', k)).allowed, 'the pin survived the restart');
  const other = await second.verify('192.0.2.10', key());
  t.false(other.allowed);
  t.regex((other as { reason: string }).reason, /pinned to a different key/);
  t.deepEqual(asked, ['192.0.2.10', '192.0.2.66'], 'a pinned address is not asked about again');

  // A crashed worker is restarted by its supervisor and reads the pin back from the file.
  let restarts = 0;
  second.actor.on('restart', () => restarts++);
  await second.actor.kill();
  t.true((await second.verify('192.0.2.10', k)).allowed); // queued until the new worker is up
  t.is(restarts, 1);
  t.false((await second.verify('192.0.2.10', key())).allowed);
});

/** A copy of `k` with one byte changed: shares every other byte (31 of 32) with it. */
function near(k: Uint8Array, at: number): Uint8Array {
  const out = new Uint8Array(k);
  out[at]! ^= 0x01;
  return out;
}

test('a key that shares 31 bytes with an allowed key is refused, from an address line and from a network line', async (t) => {
  const file = fresh();
  const a = key();
  writeFileSync(file, `127.0.0.1 ${text(a)}\n10.0.0.0/8 ${text(a)}\n`);
  const r = await open(t, file);
  t.true((await r.verify('127.0.0.1', a)).allowed);
  t.true((await r.verify('10.1.2.3', a)).allowed);
  for (const at of [0, 15, 31]) {
    t.false((await r.verify('127.0.0.1', near(a, at))).allowed, `127.0.0.1, byte ${at} changed`);
    t.false((await r.verify('10.1.2.3', near(a, at))).allowed, `10.0.0.0/8, byte ${at} changed`);
  }
});

test('TOFU: a key that shares 31 bytes with the pinned one is refused as a conflict, without asking', async (t) => {
  const file = fresh();
  const asked: string[] = [];
  const r = await open(t, file, { tofu: { approve: ({ keyText }: { keyText: string }) => (asked.push(keyText), true) } });
  const k = key();
  t.true((await r.verify('192.0.2.50', k)).allowed, 'first use: pinned');
  for (const at of [0, 15, 31]) {
    const verdict = await r.verify('192.0.2.50', near(k, at));
    t.false(verdict.allowed, `byte ${at} changed`);
    t.regex((verdict as { reason: string }).reason, /pinned to a different key/);
  }
  t.deepEqual(asked, [text(k)], 'only the first key was asked about');
  t.is(readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('192.0.2.50 ')).length, 1);
});

test('edits keep the mode the owner gave the file', async (t) => {
  const file = fresh();
  writeFileSync(file, '', { mode: 0o600 });
  const r = await open(t, file);
  await r.add({ who: '192.0.2.1', key: key() });
  t.is(statSync(file).mode & 0o777, 0o600);
});

test('without the TOFU option unknown keys are denied; a failing hook denies too', async (t) => {
  const r = await open(t, fresh(), {
    tofu: {
      approve: () => {
        throw new Error('hook broke');
      },
    },
  });
  t.false((await r.verify('192.0.2.1', key())).allowed);
  const plain = await open(t, fresh());
  t.false((await plain.verify('192.0.2.1', key())).allowed);
});

test('an atomic replacement on disk (rename over the file) is picked up too', async (t) => {
  const file = fresh();
  writeFileSync(file, '');
  const r = await open(t, file);
  const k = key();
  writeFileAtomic(file, `# replaced\n192.0.2.0/24 ${text(k)}\n`, 0o644);
  t.true(await eventually(async () => (await r.verify('192.0.2.9', k)).allowed));
  t.is((await r.status()).reloads, 1);
});

test('a file that disappears keeps the registry in force; its return is picked up', async (t) => {
  const file = fresh();
  const k = key();
  writeFileSync(file, `127.0.0.1 ${text(k)}\n`);
  const r = await open(t, file);
  renameSync(file, `${file}.away`);
  t.true(await eventually(async () => (await r.status()).problem !== null));
  const status = await r.status();
  t.is(status.problem!.line, 0);
  t.regex(status.lastError!, /cannot read .*ENOENT/);
  t.true((await r.verify('127.0.0.1', k)).allowed);
  renameSync(`${file}.away`, file);
  t.true(await eventually(async () => (await r.status()).problem === null));
  t.true((await r.verify('127.0.0.1', k)).allowed);
});

test('a bad line is reported without key bytes, and fixing the file clears the problem', async (t) => {
  const file = fresh();
  const [good, misplaced] = [key(), key()];
  writeFileSync(file, `127.0.0.1 ${text(good)}\n`);
  const r = await open(t, file);
  // A key where the pattern should be: the report must not echo it.
  writeFileSync(file, `127.0.0.1 ${text(good)}\n\n${text(misplaced)} 192.0.2.1\n`);
  t.true(await eventually(async () => (await r.status()).problem !== null));
  const { problem, failedReloads } = await r.status();
  t.is(problem!.file, file);
  t.is(problem!.line, 3);
  t.false(problem!.message.includes(text(misplaced)));
  t.false(problem!.message.includes(text(misplaced).slice(0, 16)));
  t.is(failedReloads, 1);
  writeFileSync(file, `127.0.0.1 ${text(good)}\n192.0.2.1 ${text(misplaced)}\n`);
  t.true(await eventually(async () => (await r.status()).problem === null));
  t.true((await r.verify('192.0.2.1', misplaced)).allowed);
});

test('bad arguments are EINVAL and the worker keeps serving', async (t) => {
  const file = fresh();
  const k = key();
  writeFileSync(file, `127.0.0.1 ${text(k)}\n`);
  const r = await open(t, file);
  t.is(await code(r.verify('not-an-address', k)), 'EINVAL');
  t.is(await code(r.verify('127.0.0.1', new Uint8Array(31))), 'EINVAL');
  t.is(await code(r.verify(undefined as unknown as string, k)), 'EINVAL');
  t.is(await code(r.lookup('')), 'EINVAL');
  t.is(await code(r.add({ who: '10.0.0.0/33', key: k })), 'EINVAL');
  t.is(await code(r.add({ who: '10.0.0.0/8 extra', key: k })), 'EINVAL');
  t.is(await code(r.add({ who: '10.0.0.0/8', key: new Uint8Array(3) })), 'EINVAL');
  t.is(await code(r.remove(7 as unknown as string)), 'EINVAL');
  t.is(await code(openRegistry({ file: join(dir, 'missing') })), 'EINVAL');
  t.true((await r.verify('127.0.0.1', k)).allowed);
  t.is(readFileSync(file, 'utf8'), `127.0.0.1 ${text(k)}\n`, 'nothing bad was written');
});

test('IPv6 and mapped addresses are the same identity however they are spelled', async (t) => {
  const file = fresh();
  const [six, four] = [key(), key()];
  writeFileSync(file, `2001:DB8:0:0::1 ${text(six)}\n::ffff:192.0.2.5 ${text(four)}\n`);
  const r = await open(t, file);
  t.true((await r.verify('2001:db8::1', six)).allowed);
  t.true((await r.verify('192.0.2.5', four)).allowed);
  t.true((await r.verify('::ffff:c000:205', four)).allowed);
  const other = await r.verify('2001:0db8::0001', key());
  t.regex((other as { reason: string }).reason, /pinned to a different key/);
  t.deepEqual(await r.lookup('2001:db8::1'), six);
  t.deepEqual(await r.lookup('::ffff:192.0.2.5'), four);
});

test('name lines match through the resolver: localhost covers 127.0.0.1, both ways', async (t) => {
  const file = fresh();
  const k = key();
  writeFileSync(file, `LOCALHOST. ${text(k)} a name, any case, trailing dot\n`);
  const r = await open(t, file);
  t.true((await r.verify('127.0.0.1', k)).allowed);
  t.false((await r.verify('192.0.2.1', k)).allowed);
  t.deepEqual(await r.lookup('localhost'), k);
  // Looking up by address never goes through reverse DNS (whatever the address's owner says).
  t.is(await r.lookup('127.0.0.1'), undefined);
});

test('list returns entries with their comments; remove by key leaves the other lines', async (t) => {
  const file = fresh();
  const [a, b] = [key(), key()];
  writeFileSync(file, `10.0.0.0/8 curvetun-x25519 ${text(a)} office # first\n10.0.0.0/8 ${text(b)}\n`);
  const r = await open(t, file);
  const list = await r.list();
  t.deepEqual(list.map((e) => e.comment), ['office first', '']);
  t.is(await r.remove('10.0.0.0/8', b), 1);
  t.is(await r.remove('10.0.0.0/8', b), 0);
  t.is(readFileSync(file, 'utf8'), `10.0.0.0/8 curvetun-x25519 ${text(a)} office # first\n`);
});

test('TOFU: two keys racing for one new address — exactly one is pinned', async (t) => {
  const file = fresh();
  let asked = 0;
  const approve = async () => {
    asked++;
    await sleep(20); // the second question arrives while the first is still open
    return true;
  };
  const r = await open(t, file, { tofu: { approve } });
  const [a, b] = [key(), key()];
  const verdicts = await Promise.all([r.verify('192.0.2.20', a), r.verify('::ffff:192.0.2.20', b)]);
  t.deepEqual(verdicts.map((v) => v.allowed).sort(), [false, true]);
  t.is(asked, 1, 'the loser is refused as a conflict, not asked');
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('192.0.2.20 '));
  t.is(lines.length, 1, 'pinned once, under the canonical IPv4 form');
  t.is(statSync(file).mode & 0o777, 0o644);
});

test('TOFU: a hook that never answers denies after its deadline', async (t) => {
  const r = await open(t, fresh(), { tofu: { approve: () => new Promise<boolean>(() => undefined), timeoutMs: 100 } });
  const started = Date.now();
  const verdict = await r.verify('192.0.2.30', key());
  t.false(verdict.allowed);
  t.true(Date.now() - started < 2000);
  t.deepEqual(await r.list(), []);
});

test('TOFU: the hook sees the canonical address and the key text; a truthy non-true answer denies', async (t) => {
  const seen: string[] = [];
  const k = key();
  const r = await open(t, fresh(), {
    tofu: {
      approve: (info: { remoteAddress: string; keyText: string }) => {
        seen.push(`${info.remoteAddress} ${info.keyText}`);
        return 'yes' as unknown as boolean;
      },
    },
  });
  t.false((await r.verify('::FFFF:192.0.2.40', k)).allowed);
  t.deepEqual(seen, [`192.0.2.40 ${text(k)}`]);
});

test('add: a line with the same pattern and key is there already: false, the file is not touched', async (t) => {
  const file = fresh();
  const a = key();
  const r = await open(t, file);
  t.true(await r.add({ who: '10.0.0.0/8', key: a }, 'office'));
  const before = readFileSync(file, 'utf8');
  const inode = statSync(file).ino;
  t.false(await r.add({ who: '10.0.0.0/8', key: a }, 'another comment'));
  t.is(readFileSync(file, 'utf8'), before);
  t.is(statSync(file).ino, inode, 'not even rewritten');
  t.true(await r.add({ who: '10.0.0.1', key: a }), 'another pattern is another line');
  t.is((await r.list()).length, 2);
});

test('reload events: a file edited on disk and a remove() each tell the owner; an add() does not', async (t) => {
  const file = fresh();
  const [a, b] = [key(), key()];
  writeFileSync(file, `127.0.0.1 ${text(a)}\n`);
  const r = await open(t, file);
  let reloads = 0;
  r.on('reload', () => reloads++);
  t.true(await r.add({ who: '127.0.0.2', key: b }));
  t.is(await r.remove('127.0.0.2'), 1);
  t.true(await eventually(async () => reloads === 1));
  writeFileAtomic(file, `127.0.0.3 ${text(a)}\n`, 0o644);
  t.true(await eventually(async () => reloads === 2), 'an edit on disk');
  t.deepEqual(await r.check('127.0.0.1', a), { allowed: false, reason: 'the registry no longer allows this key from 127.0.0.1' });
  t.deepEqual(await r.check('127.0.0.3', a), { allowed: true });
});
