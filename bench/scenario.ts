/**
 * One benchmark scenario for one transport, for profiling and A/B runs (the full comparison is
 * `npm run bench`). Server and client are separate processes, as in the full run.
 *
 *   npx tsx bench/scenario.ts <net|tls|secret-stream|curvetun> <sodium|node|tweetnacl> <bulk|small|rtt|handshakes|idle> [n]
 *
 * `n` is the number of concurrent clients for `handshakes` (default 1), or of idle connections
 * per step for `idle` (default 1 000; measured as in the full run: the second step of n is
 * counted, the first warms up). `handshakes` also prints the CPU time per handshake of both
 * processes (for BENCH_SECONDS, default 3). With BENCH_PROFILE=<dir>, both processes write V8 CPU profiles there (`--cpu-prof`;
 * `npx tsx bench/profile-top.ts <file>` sums one by function).
 */
import { Proc } from './proc.js';

const USAGE = 'usage: npx tsx bench/scenario.ts <net|tls|secret-stream|curvetun> <sodium|node|tweetnacl> <bulk|small|rtt|handshakes|idle> [n]';
if (process.argv.includes('--help')) {
  console.log(USAGE);
  process.exit(0);
}
const [transport = 'curvetun', backend = 'sodium', scenario = 'handshakes', countText] = process.argv.slice(2);
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];

const server = Proc.start('./server.ts', [transport, backend, scenario === 'bulk' || scenario === 'small' || scenario === 'idle' ? 'sink' : 'echo'], profile);
const { port, key } = await server.next<{ port: number; key: string }>(120_000);
const client = Proc.start('./client.ts', [transport, backend, String(port), key || '-'], profile);
await client.next(120_000);
const cpu = async () => ({ server: (await server.ask<{ us: number }>('cpu')).us, client: (await client.ask<{ us: number }>('cpu')).us });
try {
  if (scenario === 'bulk' || scenario === 'small') {
    const size = scenario === 'bulk' ? 65_000 : 64;
    const { sent } = await client.ask<{ sent: number }>('stream', [size, 3]);
    let st = await server.ask<{ bytes: number; first: number; last: number }>('stats');
    for (let i = 0; i < 200 && st.bytes < sent; i++) {
      await new Promise((r) => setTimeout(r, 50));
      st = await server.ask('stats');
    }
    const seconds = (st.last - st.first) / 1000;
    console.log(scenario === 'bulk' ? `${(st.bytes / 1e6 / seconds).toFixed(0)} MB/s` : `${(st.bytes / 64 / seconds).toFixed(0)} msg/s`);
  } else if (scenario === 'idle') {
    const n = Number(countText ?? 1000);
    await client.ask('idle', [n]);
    const before = await server.ask<{ heap: number; connections: number }>('mem');
    await client.ask('idle', [n]);
    const after = await server.ask<{ heap: number; connections: number }>('mem');
    const opened = Math.max(1, after.connections - before.connections);
    console.log(`${((after.heap - before.heap) / opened).toFixed(0)} bytes per idle connection (server heap + external, ${opened} connections)`);
  } else if (scenario === 'rtt') {
    const r = await client.ask<{ p50: number; p99: number }>('rtt', [3000, 500]);
    console.log(`round trip p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs`);
  } else {
    await client.ask('handshakes', [1, 1, 50]); // warm-up
    await new Promise((r) => setTimeout(r, 300)); // let the warm-up's connections close
    const parallel = Number(countText ?? 1);
    const before = await cpu();
    const r = await client.ask<{ count: number; seconds: number }>('handshakes', [Number(process.env.BENCH_SECONDS ?? 3), parallel]);
    await new Promise((r) => setTimeout(r, 300));
    const after = await cpu();
    const perHandshake = (side: 'server' | 'client') => (after[side] - before[side]) / r.count;
    const both = perHandshake('server') + perHandshake('client');
    console.log(
      `${(r.count / r.seconds).toFixed(0)} handshakes/s with ${parallel} client(s), ${both.toFixed(0)} µs CPU each (both processes: ` +
        `server ${perHandshake('server').toFixed(0)}, client ${perHandshake('client').toFixed(0)})`,
    );
  }
} finally {
  await Promise.all([client.exit(), server.exit()]);
}
