/**
 * The other direction: a hostile server. A client that connects to a peer answering its Hello with
 * a spoiled Cookie (mutated, truncated, random, misplaced, half a frame) must fail with a typed
 * error and never consider itself connected.
 */
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import { connect, CurvetunError } from '../lib/index.js';
import { FrameDecoder, encodeFrame } from '../lib/protocol/index.js';
import { getBackend } from '../lib/crypto/index.js';
import { makeWorld } from './helpers/fixtures.js';
import { applyRecipe, recipeArb } from './helpers/fuzz.js';
import type { Recipe, Samples } from './helpers/fuzz.js';
import { rawConnect, rawHandshake } from './helpers/raw.js';

test('a client facing a server that spoils its Cookie fails typed every time and never connects', async (t) => {
  t.timeout(60_000);
  const world = await makeWorld();
  const listener = await world.listen({ acceptAnyClient: true });
  const port = listener.address().port;
  const serverKey = listener.publicKey;
  const sample = await rawHandshake(port, { backend: getBackend('auto'), vault: world.clientVault, serverKey, sendVouch: true });
  const samples: Samples = { hello: sample.hello, cookie: sample.cookie, vouch: sample.vouch, message: sample.session.seal(Buffer.from('m')).subarray(2) };
  sample.tcp.destroy();

  // The hostile server: fetches a real Cookie for the client's Hello from the real listener, then
  // sends the client the spoiled version the current case asks for.
  let recipe: Recipe | undefined;
  const open = new Set<Socket>();
  const hostile = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => undefined);
    const decoder = new FrameDecoder();
    sock.once('data', async (chunk: Buffer) => {
      const hello = decoder.push(chunk)[0];
      if (!hello) return void sock.destroy();
      const upstream = await rawConnect(port);
      upstream.tcp.write(encodeFrame(hello));
      const cookie = await upstream.next();
      upstream.tcp.destroy();
      const { bytes, whole } = applyRecipe(recipe!, cookie, samples);
      sock.write(bytes);
      if (!whole) sock.end();
    });
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  const hostilePort = (hostile.address() as { port: number }).port;

  const codes: Record<string, number> = {};
  try {
    await fc.assert(
      fc.asyncProperty(recipeArb, async (r) => {
        recipe = r;
        const outcome = await connect('127.0.0.1', hostilePort, { protocol: 'v1', serverKey, vault: world.clientVault, timeout: 3_000 }).then(
          async (socket) => {
            await socket.close();
            return 'connected';
          },
          (error: unknown) => error,
        );
        if (!(outcome instanceof CurvetunError)) throw new Error(`case ${JSON.stringify(r.op)} ended with ${String(outcome)}`);
        codes[outcome.code] = (codes[outcome.code] ?? 0) + 1;
      }),
      { numRuns: 400 },
    );
    t.log(`client outcomes: ${JSON.stringify(codes)}`);
    t.deepEqual(Object.keys(codes).filter((c) => !['EAUTH', 'EPROTO', 'ECLOSED'].includes(c)), []);
    t.true((codes.EAUTH ?? 0) > 0 && (codes.EPROTO ?? 0) > 0);
  } finally {
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => hostile.close(() => resolve()));
    await world.dispose();
  }
});
