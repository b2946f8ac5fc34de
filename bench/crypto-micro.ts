/**
 * Micro-benchmark of the crypto backends: X25519 (beforenm), secretbox of 64 B and 64 KB.
 * Run: npx tsx bench/crypto-micro.ts [millisecondsPerCase]
 */
import { createPublicKey } from 'node:crypto';
import { availableBackends, getBackend } from '../lib/crypto/index.js';
import { getKem } from '../lib/crypto/mlkem.js';

const budgetMs = Number(process.argv[2] ?? 400);

/** Runs `fn` in batches until `budgetMs` passes (at most 10 million calls); µs per call. */
function time(fn: () => void): number {
  for (let i = 0; i < 20; i++) fn(); // warm up
  let calls = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(budgetMs) * 1_000_000n;
  let now = start;
  while (now < deadline && calls < 10_000_000) {
    for (let i = 0; i < 10; i++) fn();
    calls += 10;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1000 / calls;
}

const rows: Record<string, string>[] = [];
for (const name of availableBackends()) {
  const b = getBackend(name);
  const me = b.keyPair();
  const peers = Array.from({ length: 64 }, () => b.keyPair().publicKey);
  let p = 0;
  const key = b.randomBytes(32);
  const nonce = b.randomBytes(24);
  const small = b.randomBytes(64);
  const big = b.randomBytes(65_536);
  const smallBox = b.secretbox(small, nonce, key);
  const bigBox = b.secretbox(big, nonce, key);
  const out = new Uint8Array(big.length + 16);
  const mbps = (us: number) => (big.length / us).toFixed(0); // bytes per µs = MB/s
  const row: Record<string, string> = { backend: name };
  row['beforenm µs'] = time(() => b.beforenm(peers[p++ & 63]!, me.secretKey)).toFixed(1);
  row['keyPair µs'] = time(() => b.keyPair()).toFixed(1);
  row['secretbox 64B µs'] = time(() => b.secretbox(small, nonce, key)).toFixed(2);
  row['secretboxInto 64B µs'] = time(() => b.secretboxInto(out, 0, small, nonce, key)).toFixed(2);
  row['open 64B µs'] = time(() => b.secretboxOpen(smallBox, nonce, key)).toFixed(2);
  row['secretbox 64KB MB/s'] = mbps(time(() => b.secretbox(big, nonce, key)));
  row['secretboxInto 64KB MB/s'] = mbps(time(() => b.secretboxInto(out, 0, big, nonce, key)));
  row['open 64KB MB/s'] = mbps(time(() => b.secretboxOpen(bigBox, nonce, key)));
  rows.push(row);
}
console.table(rows);

// Raw public key → KeyObject for node:crypto: the two import routes.
const raw = getBackend('tweetnacl').keyPair().publicKey;
const x = Buffer.from(raw).toString('base64url');
const spki = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]);
console.table([
  { route: 'JWK', 'µs': time(() => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' })).toFixed(1) },
  { route: 'DER spki', 'µs': time(() => createPublicKey({ key: spki, format: 'der', type: 'spki' })).toFixed(1) },
]);

// ML-KEM-768 (protocol v2's hybrid suite): what each handshake side pays for it. The client makes a
// key pair and decapsulates; the server encapsulates (its FIPS 203 key check included).
const kem = getKem();
const pair = kem.keyPair();
const sealed = kem.encapsulate(pair.encapsulationKey);
const keygenUs = time(() => kem.keyPair());
const encapsUs = time(() => kem.encapsulate(pair.encapsulationKey));
const decapsUs = time(() => kem.decapsulate(sealed.ciphertext, pair.decapsulationKey));
console.table([
  { 'ML-KEM-768 (@noble/post-quantum)': 'keygen', 'µs': keygenUs.toFixed(0) },
  { 'ML-KEM-768 (@noble/post-quantum)': 'encapsulate', 'µs': encapsUs.toFixed(0) },
  { 'ML-KEM-768 (@noble/post-quantum)': 'decapsulate', 'µs': decapsUs.toFixed(0) },
  { 'ML-KEM-768 (@noble/post-quantum)': 'client side (keygen + decapsulate)', 'µs': (keygenUs + decapsUs).toFixed(0) },
  { 'ML-KEM-768 (@noble/post-quantum)': 'server side (encapsulate)', 'µs': encapsUs.toFixed(0) },
]);
