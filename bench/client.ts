/** Benchmark client process: runs one scenario per IPC request and answers with its figures. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientFactory } from './transports.js';
import type { Backend, ClientConn, TransportName } from './transports.js';

const [transport, backend, portText, key] = process.argv.slice(2) as [TransportName, Backend, string, string];
const port = Number(portText);
const home = mkdtempSync(join(tmpdir(), 'curvetun-bench-client-'));
const factory = new ClientFactory(transport, backend, home);
const idle: ClientConn[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const MIN_MESSAGES = 32;

/** Send `size`-byte messages for `seconds` (and at least MIN_MESSAGES), keeping a bounded window in flight. */
async function stream(size: number, seconds: number): Promise<{ sent: number }> {
  const conn = await factory.open(port, key);
  const data = new Uint8Array(size).fill(7);
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  // curvetun: the unsettled send batches (one per tick) and the bytes they carry, at most 1 MiB.
  const window: { p: Promise<void>; bytes: number }[] = [];
  let inFlight = 0;
  // Bounded in count as well as time, so a stalled peer cannot keep the loop going; at least
  // MIN_MESSAGES, so a slow backend on a loaded machine still gives the server a span to time
  // (one message alone arrives in no time at all, and its rate came out infinite).
  for (let i = 0; i < 50_000_000 && (performance.now() < end || i < MIN_MESSAGES); i++) {
    const p = conn.send(data);
    sent += size;
    if (p && !conn.pipelined) {
      await p; // a byte stream said "buffer full": wait for 'drain', as any Node writer does
    } else if (p) {
      // curvetun's sends of one tick share one promise.
      const last = window[window.length - 1];
      if (last?.p === p) last.bytes += size;
      else window.push({ p, bytes: size });
      inFlight += size;
      while (inFlight > 1 << 20 && window.length > 0) {
        const oldest = window.shift()!;
        await oldest.p;
        inFlight -= oldest.bytes;
      }
    }
    if (i % 256 === 255) await new Promise((r) => setImmediate(r)); // let I/O run on stream transports
  }
  await Promise.all(window.map((w) => w.p));
  setTimeout(() => conn.close(), 2000).unref();
  return { sent };
}

async function roundTrips(count: number, warmup: number): Promise<{ p50: number; p99: number; samples: number }> {
  const conn = await factory.open(port, key);
  const data = new Uint8Array(1024).fill(1);
  const samples: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = performance.now();
    await conn.send(data);
    await conn.receive(1024);
    if (i >= warmup) samples.push((performance.now() - t0) * 1000);
  }
  conn.close();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), samples: samples.length };
}

async function handshakes(seconds: number, parallel: number, maxEach = 100_000): Promise<{ count: number; seconds: number; meanMs: number }> {
  const start = performance.now();
  const end = start + seconds * 1000;
  let count = 0;
  let total = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = 0; i < maxEach && performance.now() < end; i++) {
        const t0 = performance.now();
        const conn = await factory.open(port, key);
        total += performance.now() - t0;
        count++;
        conn.close();
      }
    }),
  );
  return { count, seconds: (performance.now() - start) / 1000, meanMs: total / count };
}

async function openIdle(n: number): Promise<{ open: number }> {
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => factory.open(port, key)));
    idle.push(...batch);
  }
  return { open: idle.length };
}

process.on('message', async (msg: { cmd: string; args: number[] }) => {
  try {
    let result: unknown;
    const [a = 0, b = 0, c = 0] = msg.args ?? [];
    switch (msg.cmd) {
      case 'cpu': {
        // All threads of this process (main and workers), user + system, µs.
        const { user, system } = process.cpuUsage();
        result = { us: user + system };
        break;
      }
      case 'stream':
        result = await stream(a, b);
        break;
      case 'rtt':
        result = await roundTrips(a, b);
        break;
      case 'handshakes':
        result = await handshakes(a, b, c || undefined);
        break;
      case 'idle':
        result = await openIdle(a);
        break;
      case 'exit':
        for (const conn of idle) conn.close();
        await factory.close();
        rmSync(home, { recursive: true, force: true });
        process.exit(0);
    }
    process.send!({ ok: true, result });
  } catch (error) {
    process.send!({ ok: false, error: String((error as Error).message) });
  }
});
process.send!({ ready: true });
