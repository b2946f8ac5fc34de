/**
 * One half of the two-process cipher ceiling: `ceiling.ts <seal|open> <backend>` seals (or opens)
 * 65 000-byte messages for as long as asked, on whatever core it is pinned to, and answers with
 * its MB/s. run.ts starts a sealer and an opener at once on different cores, as the bulk
 * scenario's client and server are; the smaller rate is what bulk could reach if framing, I/O
 * and scheduling cost nothing.
 */
import { getBackend } from '../lib/crypto/index.js';
import type { Backend } from './transports.js';

const [role, backendName] = process.argv.slice(2) as ['seal' | 'open', Backend];
const SIZE = 65_000;
const b = getBackend(backendName);
const key = b.randomBytes(32);
const nonce = b.randomBytes(24);
const message = b.randomBytes(SIZE);
const sealed = new Uint8Array(SIZE + 16);
b.secretboxInto(sealed, 0, message, nonce, key);

/**
 * One message's work, with no allocation: seal into a reused frame-sized buffer, or open in place
 * over a fresh copy of the sealed box (in-place opening overwrites it). The copy is the one a
 * receiver makes anyway, moving a frame out of the TCP read buffer; allocating a new 65 000-byte
 * plaintext per message instead (secretboxOpen) measured 3–8× slower here, in garbage collection
 * of external memory, not in the cipher.
 */
const work = new Uint8Array(sealed.length);
const step =
  role === 'seal'
    ? () => b.secretboxInto(sealed, 0, message, nonce, key)
    : () => {
        work.set(sealed);
        if (b.secretboxOpenInPlace(work, nonce, key) === null) throw new Error('the box did not open');
      };

function rate(ms: number): number {
  for (let i = 0; i < 20; i++) step(); // warm up
  const start = performance.now();
  const end = start + ms;
  let n = 0;
  for (; n < 10_000_000 && performance.now() < end; n++) step();
  return (n * SIZE) / 1e6 / ((performance.now() - start) / 1000);
}

process.on('message', (msg: { cmd: string; args: number[] }) => {
  if (msg.cmd === 'exit') process.exit(0);
  if (msg.cmd === 'run') process.send!({ ok: true, result: { mbps: rate(msg.args[0] ?? 1000) } });
});
process.send!({ ready: true });
