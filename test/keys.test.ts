/**
 * Key files: the documented format, round trips, permissions, exclusive creation, atomic writes,
 * and typed errors that never carry key bytes.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getBackend } from '../lib/crypto/index.js';
import { CurvetunError } from '../lib/errors.js';
import { generateIdentity, generateKeyFiles, loadIdentity } from '../lib/keys/generate.js';
import {
  createKeyFiles,
  formatSecretKeyFile,
  loadPublicKeyFile,
  loadSecretKeyFile,
  parsePublicKeyLine,
  parseSecretKeyFile,
  publicKeyFileFor,
  saveKeyFiles,
} from '../lib/keys/keyfile.js';
import { KEY_TYPE, decodePublicKeyText, encodePublicKeyText, keysEqual, quotable } from '../lib/keys/text.js';

const backend = getBackend('tweetnacl');
const dir = mkdtempSync(join(tmpdir(), 'curvetun-keys-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function code(fn: () => unknown): string {
  const error = (() => {
    try {
      fn();
    } catch (e) {
      return e;
    }
    throw new Error('expected a failure');
  })();
  if (!(error instanceof CurvetunError)) throw error;
  return error.code;
}

test('generated files: public line is `curvetun-x25519 <base64> <comment>`, secret is armored, modes 0644 / 0600', (t) => {
  const file = join(dir, 'id_format');
  const publicKey = generateKeyFiles(file, backend, 'alice@laptop');
  const pubText = readFileSync(publicKeyFileFor(file), 'utf8');
  t.is(pubText, `curvetun-x25519 ${Buffer.from(publicKey).toString('base64')} alice@laptop\n`);
  t.is(KEY_TYPE, 'curvetun-x25519', 'the documented type word');
  const secretLines = readFileSync(file, 'utf8').split('\n');
  t.is(secretLines[0], '-----BEGIN CURVETUN SECRET KEY-----');
  t.is(secretLines[1], 'Comment: alice@laptop');
  t.is(Buffer.from(secretLines[2]!, 'base64').length, 64, 'secret key · scramble key');
  t.is(secretLines[3], '-----END CURVETUN SECRET KEY-----');
  t.is(statSync(file).mode & 0o777, 0o600);
  t.is(statSync(publicKeyFileFor(file)).mode & 0o777, 0o644);
  // The secret file's key really is the public file's key.
  const identity = loadIdentity(file, backend);
  t.deepEqual(identity.publicKey, publicKey);
  t.deepEqual(loadPublicKeyFile(publicKeyFileFor(file)), publicKey);
  t.is(identity.comment, 'alice@laptop');
});

test('save then load gives back the same secret key, scramble key and comment', (t) => {
  const file = join(dir, 'id_roundtrip');
  const identity = generateIdentity(backend, 'round trip');
  saveKeyFiles(file, identity, identity.publicKey);
  const loaded = loadSecretKeyFile(file);
  t.deepEqual(loaded.secretKey, identity.secretKey);
  t.deepEqual(loaded.scrambleKey, identity.scrambleKey);
  t.is(loaded.comment, 'round trip');
  t.notDeepEqual(loaded.secretKey, loaded.scrambleKey);
});

test('a comment cannot break the format: newlines become spaces', (t) => {
  const identity = generateIdentity(backend, 'evil\n-----END CURVETUN SECRET KEY-----\nx');
  const parsed = parseSecretKeyFile(formatSecretKeyFile(identity), 'memory');
  t.deepEqual(parsed.secretKey, identity.secretKey);
  t.false(parsed.comment.includes('\n'));
});

test('a secret file readable by group or others is refused with EKEY and a chmod hint; 0600 and 0400 load', (t) => {
  const file = join(dir, 'id_perm');
  generateKeyFiles(file, backend, 'perm');
  for (const mode of [0o640, 0o604, 0o644, 0o660, 0o666]) {
    chmodSync(file, mode);
    const error = t.throws(() => loadSecretKeyFile(file), { instanceOf: CurvetunError });
    t.is(error!.code, 'EKEY', mode.toString(8));
    t.regex(error!.message, /chmod 600/);
  }
  for (const mode of [0o600, 0o400]) {
    chmodSync(file, mode);
    t.notThrows(() => loadSecretKeyFile(file), mode.toString(8));
  }
  chmodSync(file, 0o600);
});

test('malformed secret files are EKEY and no message holds key bytes', (t) => {
  const file = join(dir, 'id_bad');
  const identity = generateIdentity(backend, 'bad');
  const good = formatSecretKeyFile(identity);
  const body = good.split('\n')[2]!;
  const cases = [
    '',
    'hello\n',
    good.replace('-----END CURVETUN SECRET KEY-----', ''),
    good.replace(body, body.slice(0, 40)), // too short
    good.replace(body, `${body}AAAA`), // too long
    good.replace(body, body.replace(/[A-Z]/, '*')), // not base64
    good.split('\n').reverse().join('\n'), // END before BEGIN
  ];
  for (const text of cases) {
    writeFileSync(file, text, { mode: 0o600 });
    const error = t.throws(() => loadSecretKeyFile(file), { instanceOf: CurvetunError });
    t.is(error!.code, 'EKEY', JSON.stringify(text.slice(0, 30)));
    t.false(error!.message.includes(body.slice(0, 12)), 'no key text in the message');
    t.false(error!.message.includes(Buffer.from(identity.secretKey).toString('hex').slice(0, 12)));
  }
  t.is(code(() => loadSecretKeyFile(join(dir, 'missing'))), 'EKEY');
});

test('public key lines: with or without the type word and comment; bad ones are EKEY', (t) => {
  const { publicKey } = backend.keyPair();
  const b64 = Buffer.from(publicKey).toString('base64');
  t.deepEqual(parsePublicKeyLine(`${KEY_TYPE} ${b64} bob@host two words\n`, 'x'), { publicKey, comment: 'bob@host two words' });
  t.deepEqual(parsePublicKeyLine(b64, 'x').publicKey, publicKey);
  for (const line of ['', KEY_TYPE, `${KEY_TYPE} ${b64.slice(1)}`, `${KEY_TYPE} ${b64}AA`, 'ssh-ed25519 AAAA']) {
    t.is(code(() => parsePublicKeyLine(line, 'x')), 'EKEY', line);
  }
  t.is(code(() => loadPublicKeyFile(join(dir, 'nope.pub'))), 'EKEY');
});

test('createKeyFiles never replaces an existing key: the first identity wins, the second writes nothing', (t) => {
  const file = join(dir, 'id_exclusive');
  const first = generateIdentity(backend, 'first');
  const second = generateIdentity(backend, 'second');
  t.true(createKeyFiles(file, first, first.publicKey));
  t.false(createKeyFiles(file, second, second.publicKey));
  t.deepEqual(loadSecretKeyFile(file).secretKey, first.secretKey);
  t.deepEqual(loadPublicKeyFile(publicKeyFileFor(file)), first.publicKey);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.deepEqual(readdirSync(dir).filter((n) => n.includes('id_exclusive') && n.startsWith('.')), [], 'no temp files left');
});

test('loadIdentity with create makes the files once, then keeps loading the same key', (t) => {
  const file = join(dir, 'id_create');
  const a = loadIdentity(file, backend, true);
  const b = loadIdentity(file, backend, true);
  t.deepEqual(a.publicKey, b.publicKey);
  t.deepEqual(a.scrambleKey, b.scrambleKey);
  t.is(code(() => loadIdentity(join(dir, 'id_absent'), backend, false)), 'EKEY');
});

test('a write that cannot happen is EIO and leaves no temp file behind', (t) => {
  const identity = generateIdentity(backend, 'io');
  // The "directory" is a regular file.
  const notDir = join(dir, 'plainfile');
  writeFileSync(notDir, 'x');
  t.is(code(() => saveKeyFiles(join(notDir, 'id'), identity, identity.publicKey)), 'EIO');
  t.is(code(() => createKeyFiles(join(notDir, 'id'), identity, identity.publicKey)), 'EIO');
  // The rename cannot replace a directory (this fails for root too).
  const sub = join(dir, 'blocked');
  mkdirSync(join(sub, 'id.pub', 'inside'), { recursive: true });
  const error = t.throws(() => saveKeyFiles(join(sub, 'id'), identity, identity.publicKey), { instanceOf: CurvetunError });
  t.is(error!.code, 'EIO');
  t.false(error!.message.includes(Buffer.from(identity.secretKey).toString('base64').slice(0, 12)));
  t.deepEqual(readdirSync(sub).filter((n) => n.endsWith('.tmp')), [], 'the temp file was removed');
});

test('keysEqual: keys that differ only in the first, a middle or the last byte are different; other lengths never match', (t) => {
  const a = backend.randomBytes(32);
  t.true(keysEqual(a, new Uint8Array(a)));
  const roomy = new Uint8Array(40);
  roomy.set(a, 5);
  t.true(keysEqual(a, roomy.subarray(5, 37)), 'a view inside a larger buffer compares by its bytes');
  for (const at of [0, 1, 15, 16, 30, 31]) {
    for (const bit of [0x01, 0x80]) {
      const b = new Uint8Array(a);
      b[at]! ^= bit;
      t.false(keysEqual(a, b), `byte ${at} differs by ${bit}`);
      t.false(keysEqual(b, a), `byte ${at} differs by ${bit}, other order`);
    }
  }
  // A last byte of zero: a comparison that ran past the shorter key would see no difference.
  const z = new Uint8Array(a);
  z[31] = 0;
  t.false(keysEqual(z, z.subarray(0, 31)));
  t.false(keysEqual(z.subarray(0, 31), z));
  const longer = new Uint8Array(33);
  longer.set(a);
  t.false(keysEqual(a, longer));
  t.false(keysEqual(longer, a));
  t.false(keysEqual(new Uint8Array(0), a));
});

test('public key text: 44 characters of base64, surrounding white space allowed, nothing before or after; encoding takes 32 bytes only', (t) => {
  const { publicKey } = backend.keyPair();
  const b64 = encodePublicKeyText(publicKey);
  t.is(b64.length, 44);
  t.deepEqual(decodePublicKeyText(b64), publicKey);
  t.deepEqual(decodePublicKeyText(` \t${b64}\n`), publicKey);
  for (const text of [`A${b64}`, `${b64}A`, `x ${b64}`, b64.slice(1), b64.replace(/=$/, 'A'), '']) {
    t.is(code(() => decodePublicKeyText(text)), 'EKEY', JSON.stringify(text));
  }
  for (const length of [0, 31, 33]) t.is(code(() => encodePublicKeyText(new Uint8Array(length))), 'EINVAL', `${length} bytes`);
});

test('quotable: short text is quoted whole; a key, or anything over 40 characters, only by its first 12', (t) => {
  const key = encodePublicKeyText(backend.keyPair().publicKey);
  t.is(quotable('laptop'), 'laptop');
  t.is(quotable('x'.repeat(40)), 'x'.repeat(40));
  t.is(quotable('y'.repeat(41)), `${'y'.repeat(12)}…`);
  t.is(quotable(key), `${key.slice(0, 12)}…`);
});
