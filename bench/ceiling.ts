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

/** One message's work: seal into a reused frame-sized buffer, or open into a fresh plaintext. */
const step =
  role === 'seal'
    ? () => b.secretboxInto(sealed, 0, message, nonce, key)
    : () => {
        // The opener gets a new plaintext each time, as a receiver that hands messages on must.
        if (b.secretboxOpen(sealed, nonce, key) === null) throw new Error('the box did not open');
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
