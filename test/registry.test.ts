/**
 * The registry worker over real files: verification, lookups, edits written back atomically,
 * reloads on change, a bad line that keeps the old registry in force, and trust on first use.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
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

async function open(t: { teardown(fn: () => unknown): void }, file: string, options = {}): Promise<WorkerRegistry> {
  const r = await openRegistry({ file, create: true, reloadIntervalMs: 50, ...options });
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
});

test('trust on first use: approved keys are pinned and survive a restart; another key for a pinned address is refused', async (t) => {
  const file = fresh();
  const asked: string[] = [];
  const approve = async ({ remoteAddress }: { remoteAddress: string }) => {
    asked.push(remoteAddress);
    return remoteAddress !== '192.0.2.66';
  };
  const first = await openRegistry({ file, create: true, tofu: { approve } });
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
