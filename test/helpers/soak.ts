/**
 * Soak: many connections each send many messages of random sizes through an echo server and check
 * every byte that comes back; then everything closes and the process must hold what it held
 * before (heap, sockets, file descriptors). Used by test/soak.test.ts (bounded) and scripts/soak.ts.
 */
import { connect, MAX_MESSAGE_BYTES } from '../../lib/index.js';
import type { CurvetunSocket } from '../../lib/index.js';
import { echoServer, makeWorld } from './fixtures.js';
import { MB, ioHandles, settle, snapshot } from './resources.js';
import type { Snapshot } from './resources.js';

export interface SoakOptions {
  connections: number;
  messages: number;
  /** Messages in flight per connection (sent, echo not yet checked). */
  window?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  messages: number;
  bytes: number;
  ms: number;
  mbPerSecond: number;
  baseline: Snapshot;
  during: Snapshot;
  after: Snapshot;
  heapGrowthMB: number;
}

/** xorshift32: a small seeded generator, so a failing run can be repeated. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function makeMessage(next: () => number): Uint8Array {
  // Sizes spread over the whole range, with the edges (0 and the maximum) made likely.
  const pick = next() % 20;
  const size = pick === 0 ? 0 : pick === 1 ? MAX_MESSAGE_BYTES : next() % (MAX_MESSAGE_BYTES + 1);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let i = 0;
  for (; i + 4 <= size; i += 4) view.setUint32(i, next());
  for (; i < size; i++) out[i] = next() & 0xff;
  return out;
}

async function pump(socket: CurvetunSocket, messages: number, window: number, seed: number): Promise<number> {
  const next = rng(seed);
  const outstanding: Uint8Array[] = [];
  let bytes = 0;
  let sent = 0;
  for (let received = 0; received < messages; received++) {
    while (sent < messages && outstanding.length < window) {
      const message = makeMessage(next);
      outstanding.push(message);
      await socket.send(message);
      sent++;
    }
    const echo = await socket.recv({ timeout: 30_000 });
    const expected = outstanding.shift()!;
    if (!Buffer.from(echo).equals(expected)) {
      throw new Error(`echo ${received} differs (got ${echo.length} bytes, sent ${expected.length})`);
    }
    bytes += expected.length;
  }
  return bytes;
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const window = options.window ?? 4;
  const seed = options.seed ?? 0x5eed;
  const world = await makeWorld();
  try {
    // Baseline: the world's workers are up, no listener and no connection yet.
    const baseline = await snapshot();
    const listener = await world.listen({ maxPendingPerAddress: 10_000 });
    void echoServer(listener);
    const port = listener.address().port;
    const started = Date.now();

    const sockets: CurvetunSocket[] = [];
    for (let i = 0; i < options.connections; i += 10) {
      const group = Math.min(10, options.connections - i);
      sockets.push(
        ...(await Promise.all(
          Array.from({ length: group }, () => connect('127.0.0.1', port, { vault: world.clientVault, serverKey: listener.publicKey, timeout: 30_000 })),
        )),
      );
    }
    log(`${sockets.length} connections up in ${Date.now() - started} ms`);
    const totals = await Promise.all(sockets.map((s, i) => pump(s, options.messages, window, seed + i * 7_919)));
    const during = await snapshot();
    const ms = Date.now() - started;
    const bytes = totals.reduce((a, b) => a + b, 0);

    await Promise.all(sockets.map((s) => s.close()));
    await listener.close();
    // Closed sockets release their handles over a few ticks: wait for the count to come back.
    const after = await settle((s) => ioHandles(s) <= ioHandles(baseline) && s.fds <= baseline.fds, 5_000);
    const report: SoakReport = {
      messages: options.connections * options.messages,
      bytes,
      ms,
      mbPerSecond: bytes / MB / (ms / 1000),
      baseline,
      during,
      after,
      heapGrowthMB: (after.heapUsed - baseline.heapUsed) / MB,
    };
    return report;
  } finally {
    await world.dispose();
  }
}
