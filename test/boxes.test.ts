/**
 * The plaintexts inside the handshake's boxes and the cookie (lib/protocol/boxes.ts): each field
 * at the offset PROTOCOL.md gives, decoders the inverse of encoders, wrong sizes refused.
 */
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import {
  decodeCookieBox,
  decodeCookieContents,
  decodeCookieValue,
  decodeVouchBox,
  encodeCookieBox,
  encodeCookieContents,
  encodeCookieValue,
  encodeVouchBox,
  safeNonceBlock,
} from '../lib/protocol/index.js';

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const at = (bytes: Uint8Array, from: number, to: number) => Array.from(bytes.subarray(from, to));

test('Cookie box plaintext: ES (32) · K (96), and back', (t) => {
  const plain = encodeCookieBox(fill(32, 1), fill(96, 2));
  t.is(plain.length, 128);
  t.deepEqual(at(plain, 0, 32), Array(32).fill(1));
  t.deepEqual(at(plain, 32, 128), Array(96).fill(2));
  const back = decodeCookieBox(plain);
  t.deepEqual(back.serverEphemeralKey, fill(32, 1));
  t.deepEqual(back.cookie, fill(96, 2));
});

test('Vouch box plaintext: C (32) · v16 (16) · V (48), and back', (t) => {
  const plain = encodeVouchBox({ clientKey: fill(32, 3), nonce16: fill(16, 4), vouch: fill(48, 5) });
  t.is(plain.length, 96);
  t.deepEqual(at(plain, 0, 32), Array(32).fill(3));
  t.deepEqual(at(plain, 32, 48), Array(16).fill(4));
  t.deepEqual(at(plain, 48, 96), Array(48).fill(5));
  t.deepEqual(decodeVouchBox(plain), { clientKey: fill(32, 3), nonce16: fill(16, 4), vouch: fill(48, 5) });
});

test('the cookie: k16 (16) · box (80); its contents EC (32) · ESs (32), decoded as copies', (t) => {
  const cookie = encodeCookieValue(fill(16, 6), fill(80, 7));
  t.is(cookie.length, 96);
  t.deepEqual(at(cookie, 0, 16), Array(16).fill(6));
  t.deepEqual(decodeCookieValue(cookie), { k16: fill(16, 6), box: fill(80, 7) });
  const contents = encodeCookieContents(fill(32, 8), fill(32, 9));
  t.deepEqual(at(contents, 32, 64), Array(32).fill(9));
  const back = decodeCookieContents(contents);
  contents.fill(0); // the caller wipes the plaintext; the decoded keys are its own
  t.deepEqual(back, { clientEphemeralPublicKey: fill(32, 8), serverEphemeralSecretKey: fill(32, 9) });
});

test('a safe nonce block is counter:u64be · 8 random bytes', (t) => {
  const block = safeNonceBlock(0x0102030405, fill(8, 0xee));
  t.deepEqual(Array.from(block), [0, 0, 0, 1, 2, 3, 4, 5, ...Array(8).fill(0xee)]);
});

test('wrong sizes: EINVAL when encoding, EPROTO when a plaintext has the wrong length', (t) => {
  const code = (fn: () => unknown) => t.throws(fn, { instanceOf: CurvetunError })!.code;
  t.is(code(() => encodeCookieBox(fill(31, 0), fill(96, 0))), 'EINVAL');
  t.is(code(() => encodeVouchBox({ clientKey: fill(32, 0), nonce16: fill(16, 0), vouch: fill(47, 0) })), 'EINVAL');
  t.is(code(() => encodeCookieValue(fill(16, 0), fill(81, 0))), 'EINVAL');
  t.is(code(() => decodeCookieValue(fill(95, 0))), 'EINVAL');
  t.is(code(() => decodeVouchBox(fill(95, 0))), 'EPROTO');
  t.is(code(() => decodeCookieBox(fill(129, 0))), 'EPROTO');
});
