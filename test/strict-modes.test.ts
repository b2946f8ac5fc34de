/**
 * known_hosts is trusted only when nobody else can write it (issue 12, item 5): the file and every
 * directory above it must be owned by us or root and not group/other-writable (OpenSSH's
 * StrictModes; sticky directories such as /tmp excepted). Refused with EKEY naming the path, at
 * start-up and on every reload (the last good registry stays in force). Each test makes its own
 * directories with explicit modes (the suite may run as root, where nothing is refused by access).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { Home } from '../lib/index.js';
import { encodePublicKeyText } from '../lib/keys/text.js';
import { openRegistry } from '../lib/registry/index.js';
import { run } from './cli-process.js';

const backend = getBackend('tweetnacl');
const base = mkdtempSync(join(tmpdir(), 'curvetun-modes-'));
chmodSync(base, 0o755);
test.after.always(() => rmSync(base, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

let n = 0;
/** A fresh directory of `mode` under the base, holding `known_hosts` of `fileMode` with one line. */
function layout(dirMode = 0o755, fileMode = 0o644): { dir: string; file: string; key: Uint8Array } {
  const dir = join(base, `case-${n++}`);
  mkdirSync(dir);
  chmodSync(dir, dirMode);
  const key = backend.keyPair().publicKey;
  const file = join(dir, 'known_hosts');
  writeFileSync(file, `127.0.0.1 ${encodePublicKeyText(key)}\n`);
  chmodSync(file, fileMode);
  return { dir, file, key };
}

async function openError(file: string, options = {}): Promise<CurvetunError> {
  try {
    const r = await openRegistry({ file, logProblems: false, ...options });
    await r.close();
  } catch (error) {
    if (error instanceof CurvetunError) return error;
    throw error;
  }
  throw new Error(`${file} was accepted`);
}

const refused: [string, number, number, RegExp][] = [
  ['a world-writable file', 0o755, 0o666, /known_hosts is writable by anyone \(mode 0666\)/],
  ['a group-writable file', 0o755, 0o664, /known_hosts is writable by its group \(mode 0664\)/],
  ['a world-writable directory', 0o777, 0o644, /case-\d+ is writable by anyone \(mode 0777\)/],
  ['a group-writable directory', 0o775, 0o644, /case-\d+ is writable by its group \(mode 0775\)/],
];

for (const [what, dirMode, fileMode, message] of refused) {
  test(`${what} is refused at open with EKEY naming the path; strictModes: false opens it`, async (t) => {
    const { file, key } = layout(dirMode, fileMode);
    const error = await openError(file);
    t.is(error.code, 'EKEY');
    t.regex(error.message, message);
    t.true(error.message.includes(file), 'names the file');
    t.regex(error.message, /someone else could add keys/);
    const r = await openRegistry({ file, logProblems: false, strictModes: false });
    t.teardown(() => r.close());
    t.deepEqual(await r.lookup('127.0.0.1'), key);
  });
}

test('a writable directory two levels up is refused too, and named', async (t) => {
  const top = join(base, `top-${n++}`);
  mkdirSync(join(top, 'middle', 'home'), { recursive: true });
  chmodSync(top, 0o777);
  chmodSync(join(top, 'middle'), 0o755);
  chmodSync(join(top, 'middle', 'home'), 0o700);
  const file = join(top, 'middle', 'home', 'known_hosts');
  writeFileSync(file, '');
  chmodSync(file, 0o600);
  const error = await openError(file);
  t.is(error.code, 'EKEY');
  t.true(error.message.includes(`${top} is writable by anyone (mode 0777)`), error.message);
});

test('safe layouts open: 0644 in 0755, 0600 in 0700, and a sticky world-writable directory (like /tmp)', async (t) => {
  for (const [dirMode, fileMode] of [
    [0o755, 0o644],
    [0o700, 0o600],
    [0o1777, 0o644],
  ] as const) {
    const { file, key } = layout(dirMode, fileMode);
    const r = await openRegistry({ file, logProblems: false });
    t.deepEqual(await r.lookup('127.0.0.1'), key, `dir ${dirMode.toString(8)} file ${fileMode.toString(8)}`);
    await r.close();
  }
});

test('a symbolic link is followed: a link in a safe directory to a file in a writable one is refused', async (t) => {
  const unsafe = layout(0o777, 0o644);
  const safe = join(base, `safe-${n++}`);
  mkdirSync(safe);
  chmodSync(safe, 0o755);
  const link = join(safe, 'known_hosts');
  symlinkSync(unsafe.file, link);
  const error = await openError(link);
  t.is(error.code, 'EKEY');
  t.true(error.message.includes(`${unsafe.dir} is writable by anyone`), error.message);
});

(isRoot ? test : test.skip)('a file or directory owned by another user is refused (needs root to chown)', async (t) => {
  const a = layout();
  chownSync(a.file, 12345, 12345);
  const fileError = await openError(a.file);
  t.is(fileError.code, 'EKEY');
  t.true(fileError.message.includes(`${a.file} is owned by uid 12345`), fileError.message);
  const b = layout();
  chownSync(b.dir, 12345, 12345);
  const dirError = await openError(b.file);
  t.true(dirError.message.includes(`${b.dir} is owned by uid 12345`), dirError.message);
});

test('a reload of a file that became world-writable keeps the last good registry and reports it; fixing the mode applies the new file', async (t) => {
  const { file, key } = layout();
  const r = await openRegistry({ file, logProblems: false, reloadIntervalMs: 100 });
  t.teardown(() => r.close());
  t.deepEqual(await r.lookup('127.0.0.1'), key);
  // Someone makes the file writable for everyone, then (as anyone could now) puts a key of theirs in.
  chmodSync(file, 0o666);
  const intruder = backend.keyPair().publicKey;
  writeFileSync(file, `127.0.0.1 ${encodePublicKeyText(intruder)}\n`);
  const problem = await r.reload();
  t.truthy(problem);
  t.true(problem!.includes(`${file} is writable by anyone`), problem!);
  t.deepEqual(await r.lookup('127.0.0.1'), key, 'the last good registry stays in force');
  t.true((await r.verify('127.0.0.1', key)).allowed);
  t.false((await r.verify('127.0.0.1', intruder)).allowed);
  const status = await r.status();
  t.true(status.lastError!.includes(file));
  t.true(status.failedReloads >= 1);
  // Edits through the registry are refused as well: never build on a file others could write.
  t.is((await t.throwsAsync(r.add({ who: '10.0.0.1', key }), { instanceOf: CurvetunError }))!.code, 'EKEY');
  chmodSync(file, 0o644);
  t.is(await r.reload(), null);
  t.deepEqual(await r.lookup('127.0.0.1'), intruder, 'the file now on disk is in force');
});

test('a directory above the file that becomes writable is refused at the next reload', async (t) => {
  const { dir, file, key } = layout();
  const r = await openRegistry({ file, logProblems: false });
  t.teardown(() => r.close());
  chmodSync(dir, 0o777);
  writeFileSync(file, '');
  const problem = await r.reload();
  t.true(problem?.includes(`${dir} is writable by anyone`), String(problem));
  t.deepEqual(await r.lookup('127.0.0.1'), key);
});

test.serial('the default home and the CLI take CURVETUN_STRICT_MODES=0 to turn the check off', async (t) => {
  const { dir, file, key } = layout(0o777, 0o666);
  const runtime = new Home({ home: dir });
  t.true(runtime.strictModes);
  const refusedError = await runtime.registry().then(
    () => null,
    (e: unknown) => e as CurvetunError,
  );
  t.is(refusedError?.code, 'EKEY');
  await runtime.stop();
  t.false(new Home({ home: dir, strictModes: false }).strictModes);
  process.env.CURVETUN_STRICT_MODES = '0';
  try {
    const relaxed = new Home({ home: dir });
    t.false(relaxed.strictModes);
    t.deepEqual(await (await relaxed.registry()).lookup('127.0.0.1'), key);
    await relaxed.stop();
  } finally {
    delete process.env.CURVETUN_STRICT_MODES;
  }
  const strictCli = await run(['registry', 'list', '--known-hosts', file], { env: { CURVETUN_STRICT_MODES: '' } });
  t.is(strictCli.code, 1, strictCli.stderr);
  t.regex(strictCli.stderr, /writable by anyone/);
  const relaxedCli = await run(['registry', 'list', '--known-hosts', file], { env: { CURVETUN_STRICT_MODES: '0' } });
  t.is(relaxedCli.code, 0, relaxedCli.stderr);
  t.true(relaxedCli.stdout.toString().includes(encodePublicKeyText(key)));
});
