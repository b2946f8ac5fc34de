/**
 * One benchmark scenario for one transport, for profiling and A/B runs (the full comparison is
 * `npm run bench`). Server and client are separate processes, as in the full run.
 *
 *   npx tsx bench/scenario.ts <net|tls|curvetun> <sodium|node|tweetnacl> <bulk|small|rtt|handshakes|idle> [n]
 *
 * `n` is the number of concurrent clients for `handshakes` (default 1), or of idle connections
 * per step for `idle` (default 1 000; measured as in the full run: the second step of n is
 * counted, the first warms up). With BENCH_PROFILE=<dir>, both processes write V8 CPU profiles
 * there (`--cpu-prof`).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

if (process.argv.includes('--help')) {
  console.log('usage: npx tsx bench/scenario.ts <net|tls|curvetun> <sodium|node|tweetnacl> <bulk|small|rtt|handshakes|idle> [n]');
  process.exit(0);
}
const [transport = 'curvetun', backend = 'sodium', scenario = 'handshakes', countText] = process.argv.slice(2);
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];

function start(script: string, args: string[]): ChildProcess {
  return fork(new URL(script, import.meta.url).pathname, args, { execArgv: ['--import', 'tsx', '--expose-gc', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
function next<T>(p: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('benchmark process did not answer in time')), 120_000);
    p.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
  });
}
async function ask<T>(p: ChildProcess, cmd: string, args: number[] = []): Promise<T> {
  p.send({ cmd, args });
  const reply = await next<{ ok?: boolean; result?: T; error?: string } & T>(p);
  if (reply.ok === false) throw new Error(reply.error);
  return (reply.result ?? reply) as T;
}

const server = start('./server.ts', [transport, backend, scenario === 'bulk' || scenario === 'small' || scenario === 'idle' ? 'sink' : 'echo']);
const { port, key } = await next<{ port: number; key: string }>(server);
const client = start('./client.ts', [transport, backend, String(port), key || '-']);
await next(client);
try {
  if (scenario === 'bulk' || scenario === 'small') {
    const size = scenario === 'bulk' ? 65_000 : 64;
    const { sent } = await ask<{ sent: number }>(client, 'stream', [size, 3]);
    let st = await ask<{ bytes: number; first: number; last: number }>(server, 'stats');
    for (let i = 0; i < 200 && st.bytes < sent; i++) {
      await new Promise((r) => setTimeout(r, 50));
      st = await ask(server, 'stats');
    }
    const seconds = (st.last - st.first) / 1000;
    console.log(scenario === 'bulk' ? `${(st.bytes / 1e6 / seconds).toFixed(0)} MB/s` : `${(st.bytes / 64 / seconds).toFixed(0)} msg/s`);
  } else if (scenario === 'idle') {
    const n = Number(countText ?? 1000);
    await ask(client, 'idle', [n]);
    const before = await ask<{ heap: number; connections: number }>(server, 'mem');
    await ask(client, 'idle', [n]);
    const after = await ask<{ heap: number; connections: number }>(server, 'mem');
    const opened = Math.max(1, after.connections - before.connections);
    console.log(`${((after.heap - before.heap) / opened).toFixed(0)} bytes per idle connection (server heap + external, ${opened} connections)`);
  } else if (scenario === 'rtt') {
    const r = await ask<{ p50: number; p99: number }>(client, 'rtt', [3000, 500]);
    console.log(`round trip p50 ${r.p50.toFixed(0)} µs, p99 ${r.p99.toFixed(0)} µs`);
  } else {
    await ask(client, 'handshakes', [1, 1, 50]); // warm-up
    const parallel = Number(countText ?? 1);
    const r = await ask<{ count: number; seconds: number }>(client, 'handshakes', [3, parallel]);
    console.log(`${(r.count / r.seconds).toFixed(0)} handshakes/s with ${parallel} client(s)`);
  }
} finally {
  client.send({ cmd: 'exit', args: [] });
  server.send({ cmd: 'exit', args: [] });
}
