/**
 * `npm run bench [-- --quick]`: curvetun (every available crypto backend) against TLS 1.3 and raw
 * TCP in one run, server and client in separate processes, loopback only, every loop bounded.
 * Prints a table with ratios to TLS and writes bench/results/latest.json (or latest-quick.json).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { getBackend, availableBackends } from '../lib/crypto/index.js';
import type { Backend, TransportName } from './transports.js';

const quick = process.argv.includes('--quick');
const D = quick ? 0.25 : 3; // seconds per throughput / handshake figure
const IDLE_MEM = quick ? 300 : 1000;
const IDLE_GROWTH = quick ? 700 : 10_000;
const GROWTH_HANDSHAKES = quick ? 20 : 200;
const RTT = quick ? { count: 100, warmup: 20 } : { count: 3000, warmup: 500 };

interface Figures {
  bulkMBps: number;
  smallMsgPerSec: number;
  rttP50us: number;
  rttP99us: number;
  rttPinnedP50us: number;
  handshakesSeqPerSec: number;
  handshakes16PerSec: number;
  memPerIdleConnBytes: number;
  growthHandshakeRatio: number;
  growthRttRatio: number;
}

class Proc {
  private inbox: unknown[] = [];
  private waiting: ((m: unknown) => void) | null = null;
  constructor(readonly child: ChildProcess) {
    child.on('message', (m) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(m);
      } else this.inbox.push(m);
    });
  }
  static start(script: string, args: string[]): Proc {
    return new Proc(fork(new URL(script, import.meta.url).pathname, args, { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }
  next<T>(timeoutMs = 600_000): Promise<T> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift() as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('benchmark process did not answer in time')), timeoutMs);
      this.waiting = (m) => {
        clearTimeout(timer);
        resolve(m as T);
      };
    });
  }
  async ask<T>(cmd: string, args: number[] = []): Promise<T> {
    this.child.send({ cmd, args });
    const reply = await this.next<{ ok?: boolean; result?: T; error?: string } & T>();
    if (reply.ok === false) throw new Error(reply.error);
    return (reply.result ?? reply) as T;
  }
  async exit(): Promise<void> {
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit', args: [] });
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
    this.child.kill('SIGKILL');
  }
}

async function server(transport: TransportName, backend: Backend, mode: 'sink' | 'echo') {
  const p = Proc.start('./server.ts', [transport, backend, mode]);
  const { port, key } = await p.next<{ port: number; key: string }>(60_000);
  return { p, port, key };
}

async function client(transport: TransportName, backend: Backend, port: number, key: string) {
  const p = Proc.start('./client.ts', [transport, backend, String(port), key || '-']);
  await p.next(60_000);
  return p;
}

/** Pin the server's main thread to CPU 0 and the client's to CPU 1 while `run` runs (NaN without taskset). */
async function pinned(server: Proc, client: Proc, run: () => Promise<number>): Promise<number> {
  const all = `0-${cpus().length - 1}`;
  const pin = (p: Proc, cpu: string) => execFileSync('taskset', ['-p', '-c', cpu, String(p.child.pid)], { stdio: 'ignore' });
  try {
    if (cpus().length < 2) return NaN;
    pin(server, '0');
    pin(client, '1');
  } catch {
    return NaN; // no taskset here: the figure is left out, not guessed
  }
  try {
    return await run();
  } finally {
    pin(server, all);
    pin(client, all);
  }
}

/** Wait until the server has counted `expected` bytes (bounded), then read its counters. */
async function drained(s: Proc, expected: number) {
  let stats = await s.ask<{ bytes: number; messages: number; first: number; last: number }>('stats');
  for (let i = 0; i < 200 && stats.bytes < expected; i++) {
    await new Promise((r) => setTimeout(r, 50));
    stats = await s.ask('stats');
  }
  return stats;
}

const t0 = performance.now();
const trace = process.env.BENCH_TRACE ? (what: string) => process.stderr.write(`  ${((performance.now() - t0) / 1000).toFixed(1)} s ${what}\n`) : () => undefined;

async function measure(transport: TransportName, backend: Backend): Promise<Figures> {
  const f = {} as Figures;
  // One server and one client process per column (process start-up is the slow part of --quick).
  const s = await server(transport, backend, 'sink');
  const c = await client(transport, backend, s.port, s.key);
  // Throughput, counted at the server.
  trace('bulk');
  const bulk = await c.ask<{ sent: number }>('stream', [65_000, D]);
  let st = await drained(s.p, bulk.sent);
  f.bulkMBps = st.bytes / 1e6 / ((st.last - st.first) / 1000);
  await s.p.ask('reset');
  trace('small');
  const small = await c.ask<{ sent: number }>('stream', [64, D]);
  st = await drained(s.p, small.sent);
  f.smallMsgPerSec = st.bytes / 64 / ((st.last - st.first) / 1000);

  // Latency, handshakes, memory and growth against the same server, now echoing.
  await s.p.ask('echo');
  trace('rtt');
  const rtt = await c.ask<{ p50: number; p99: number }>('rtt', [RTT.count, RTT.warmup]);
  f.rttP50us = rtt.p50;
  f.rttP99us = rtt.p99;
  // The same ping-pong with the two main threads held on different CPUs, as two hosts would be:
  // unpinned, where the scheduler happens to put the two processes moved the figure above by up
  // to 2× between runs of one transport.
  f.rttPinnedP50us = await pinned(s.p, c, async () => (await c.ask<{ p50: number }>('rtt', [RTT.count, RTT.warmup])).p50);
  trace('handshakes');
  const seq = await c.ask<{ count: number; seconds: number; meanMs: number }>('handshakes', [D, 1]);
  f.handshakesSeqPerSec = seq.count / seq.seconds;
  const par = await c.ask<{ count: number; seconds: number }>('handshakes', [D, 16]);
  f.handshakes16PerSec = par.count / par.seconds;

  // Baseline for growth: handshake time and round trip with no idle connections.
  await new Promise((r) => setTimeout(r, 300)); // let closed connections go
  const hs0 = await c.ask<{ meanMs: number }>('handshakes', [30, 1, GROWTH_HANDSHAKES]);
  const rtt0 = await c.ask<{ p50: number }>('rtt', [RTT.count / 2, RTT.warmup]);

  trace('memory');
  // Only idle connections may count: wait (bounded) until the earlier ones have closed.
  for (let i = 0; i < 100 && (await s.p.ask<{ connections: number }>('stats')).connections > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // The cost of one more idle connection: IDLE_MEM are opened first (so pools, caches and code
  // that the first connections warm up are in place), then IDLE_MEM more, and only the second
  // step is counted. A single before/after step was thrown off by whatever the earlier scenarios
  // left for the garbage collector (one run gave a negative figure).
  const idle = await client(transport, backend, s.port, s.key);
  await idle.ask('idle', [IDLE_MEM]);
  const memBefore = await s.p.ask<{ heap: number; rss: number; connections: number }>('mem');
  await idle.ask('idle', [IDLE_MEM]);
  const memAfter = await s.p.ask<{ heap: number; rss: number; connections: number }>('mem');
  const opened = Math.max(1, memAfter.connections - memBefore.connections);
  // JS heap + external + array buffers: this misses what native code mallocs outside V8's
  // accounting (OpenSSL's per-connection state), so TLS's figure is a lower bound. RSS was tried
  // and moved by whole pages and allocator arenas, too coarse to compare.
  f.memPerIdleConnBytes = (memAfter.heap - memBefore.heap) / opened;

  trace('growth');
  await idle.ask('idle', [IDLE_GROWTH - 2 * IDLE_MEM]);
  const hs1 = await c.ask<{ meanMs: number }>('handshakes', [30, 1, GROWTH_HANDSHAKES]);
  const rtt1 = await c.ask<{ p50: number }>('rtt', [RTT.count / 2, RTT.warmup]);
  f.growthHandshakeRatio = hs1.meanMs / hs0.meanMs;
  f.growthRttRatio = rtt1.p50 / rtt0.p50;
  await Promise.all([idle.exit(), c.exit()]);
  await s.p.exit();
  return f;
}

/** The cipher's own ceiling: seal + open of 65 000-byte messages, in this process. */
function secretboxCeiling(backend: Backend): number {
  const b = getBackend(backend);
  const key = b.randomBytes(32);
  const nonce = b.randomBytes(24);
  const msg = new Uint8Array(65_000);
  const out = new Uint8Array(65_016);
  const end = performance.now() + (quick ? 200 : 1500);
  const start = performance.now();
  let n = 0;
  for (; n < 1_000_000 && performance.now() < end; n++) {
    b.secretboxInto(out, 0, msg, nonce, key);
    b.secretboxOpen(out, nonce, key);
  }
  return (n * 65_000) / 1e6 / ((performance.now() - start) / 1000);
}

function version(pkg: string): string {
  try {
    return JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return 'absent';
  }
}

// `--only=curvetun/node` (for profiling) measures that column and TLS, the reference.
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const columns: { name: string; transport: TransportName; backend: Backend }[] = [
  { name: 'net', transport: 'net' as const, backend: 'tweetnacl' as const },
  { name: 'tls', transport: 'tls' as const, backend: 'tweetnacl' as const },
  ...availableBackends().map((b) => ({ name: `curvetun/${b}`, transport: 'curvetun' as const, backend: b })),
].filter((c) => !only || c.name === only || c.name === 'tls');

const started = Date.now();
// Other work on the machine skews every figure: record the load before and after.
const loadBefore = loadavg();
const results: Record<string, Figures> = {};
for (const col of columns) {
  process.stderr.write(`measuring ${col.name}…\n`);
  results[col.name] = await measure(col.transport, col.backend);
}
const ceiling = Object.fromEntries(availableBackends().map((b) => [b, secretboxCeiling(b)]));

const rows: [keyof Figures, string, number][] = [
  ['bulkMBps', 'bulk MB/s (65 000-byte messages)', 1],
  ['smallMsgPerSec', 'small msg/s (64 bytes, pipelined)', 0],
  ['rttP50us', 'round trip p50 µs (1 KiB)', 0],
  ['rttP99us', 'round trip p99 µs (1 KiB)', 0],
  ['rttPinnedP50us', 'round trip p50 µs (1 KiB), main threads pinned to CPU 0 / 1', 0],
  ['handshakesSeqPerSec', 'handshakes/s, sequential', 0],
  ['handshakes16PerSec', 'handshakes/s, 16 concurrent', 0],
  ['memPerIdleConnBytes', `server heap bytes per idle connection (${IDLE_MEM})`, 0],
  ['growthHandshakeRatio', `handshake time, ${IDLE_GROWTH} idle vs none`, 2],
  ['growthRttRatio', `round trip, ${IDLE_GROWTH} idle vs none`, 2],
];
const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const header = `| figure | ${columns.map((c) => c.name).join(' | ')} |`;
const lines = [header, `|---|${columns.map(() => '---').join('|')}|`];
for (const [key, label, digits] of rows) {
  const tlsValue = results.tls![key];
  const cells = columns.map((c) => {
    const v = results[c.name]![key];
    return c.name === 'tls' || key.startsWith('growth') ? fmt(v, digits) : `${fmt(v, digits)} (${fmt(v / tlsValue, 2)}×)`;
  });
  lines.push(`| ${label} | ${cells.join(' | ')} |`);
}
lines.push(`| ceiling: secretbox+open MB/s, one process | ${columns.map((c) => (c.transport === 'curvetun' ? fmt(ceiling[c.backend]!, 0) : '–')).join(' | ')} |`);
const table = lines.join('\n');

const command = `npm run bench${quick ? ' -- --quick' : ''}`;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
let openssl = 'unknown';
try {
  openssl = execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
} catch {
  // only for the record
}
const report = {
  date: new Date().toISOString(),
  command,
  quick,
  seconds: (Date.now() - started) / 1000,
  loadAverage: { before: loadBefore, after: loadavg() },
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: totalmem() / 2 ** 30, node: process.version, platform: process.platform },
  versions: { tweetnacl: version('tweetnacl'), xstate: version('xstate'), 'sodium-native': version('sodium-native'), openssl, nodeOpenssl: process.versions.openssl },
  results,
  ceilingMBps: ceiling,
  table,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL(`./results/latest${quick ? '-quick' : ''}.json`, import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
const footer = `${machine}; \`${command}\`, ${report.seconds.toFixed(0)} s, ${report.date}. Ratios in parentheses are to TLS 1.3. Load average (1 min) ${loadBefore[0]!.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after.`;
if (!quick) {
  // The full run's table is what the README shows (bench/RESULTS.md is included there).
  // Hand-written notes below the '## Notes' heading survive a new run.
  const file = new URL('./RESULTS.md', import.meta.url);
  let notes = '';
  try {
    const old = readFileSync(file, 'utf8');
    const at = old.indexOf('\n## Notes');
    if (at >= 0) notes = old.slice(at);
  } catch {
    // first run
  }
  writeFileSync(file, `# Benchmark results\n\n${table}\n\n${footer}\n\nReproduce: \`npm run bench\` (about 5 minutes; \`npm run bench -- --quick\` for a smaller smoke run). Figures and versions: \`bench/results/latest.json\`.\n${notes}`);
}
console.log(`${table}\n\n${footer}`);
