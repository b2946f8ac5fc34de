/**
 * `npm run bench [-- --quick]`: curvetun (every available crypto backend) against TLS 1.3,
 * @hyperswarm/secret-stream and raw TCP in one run, server and client in separate processes,
 * loopback only, every loop bounded. Prints a table with ratios to TLS and to secret-stream and
 * writes bench/results/latest.json (or latest-quick.json); a full run also rewrites its section of
 * bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { availableBackends } from '../lib/crypto/index.js';
import { Proc, pin, pinned } from './proc.js';
import { RunRecord, commandLine, packageVersion, updateResults } from './report.js';
import type { Backend, TransportName } from './transports.js';

const quick = process.argv.includes('--quick');
const D = quick ? 0.25 : 3; // seconds per throughput / handshake figure
const IDLE_WARM = quick ? 150 : 1000; // idle connections opened before memory is counted
const IDLE_STEP = quick ? 150 : 500; // idle connections per counted step
const MEM_STEPS = 3; // counted steps; the figure is their median
const IDLE_GROWTH = quick ? 800 : 10_000;
const GROWTH_HANDSHAKES = quick ? 20 : 200;
const RTT = quick ? { count: 100, warmup: 20 } : { count: 3000, warmup: 500 };
const CEILING_MS = quick ? 200 : 2000;

interface Figures {
  bulkMBps: number;
  smallMsgPerSec: number;
  rttP50us: number;
  rttP99us: number;
  rttPinnedP50us: number;
  handshakesSeqPerSec: number;
  handshakes16PerSec: number;
  cpuPerHandshakeSeqUs: number;
  cpuPerHandshake16Us: number;
  memPerIdleConnBytes: number;
  growthHandshakeRatio: number;
  growthRttRatio: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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

/** Wait until the server has counted `expected` bytes (bounded), then read its counters. */
async function drained(s: Proc, expected: number) {
  let stats = await s.ask<{ bytes: number; messages: number; first: number; last: number }>('stats');
  for (let i = 0; i < 200 && stats.bytes < expected; i++) {
    await sleep(50);
    stats = await s.ask('stats');
  }
  return stats;
}

/** Wait (bounded) until the server has seen every connection close. */
async function settled(s: Proc): Promise<void> {
  for (let i = 0; i < 100 && (await s.ask<{ connections: number }>('stats')).connections > 0; i++) await sleep(50);
}

/** CPU time of both processes, all their threads, µs. */
async function cpuOf(s: Proc, c: Proc): Promise<number> {
  const [a, b] = await Promise.all([s.ask<{ us: number }>('cpu'), c.ask<{ us: number }>('cpu')]);
  return a.us + b.us;
}

/**
 * `parallel` clients connecting (TCP + handshake) and closing for D seconds: handshakes/s, and
 * the CPU both processes spent per connection, counted until the server has seen every close.
 */
async function handshakeFigures(s: Proc, c: Proc, parallel: number): Promise<{ perSec: number; cpuUs: number }> {
  await settled(s);
  const before = await cpuOf(s, c);
  const r = await c.ask<{ count: number; seconds: number }>('handshakes', [D, parallel]);
  await settled(s);
  const cpu = (await cpuOf(s, c)) - before;
  return { perSec: r.count / r.seconds, cpuUs: cpu / r.count };
}

const t0 = performance.now();
const trace = process.env.BENCH_TRACE ? (what: string) => process.stderr.write(`  ${((performance.now() - t0) / 1000).toFixed(1)} s ${what}\n`) : () => undefined;

/**
 * Growth at 10 000 idle connections is a property of the connection layer, not of the cipher: a
 * full run measures curvetun (v1 and v2) on the fastest backend only (the slower ones spent a minute opening
 * those connections and pushed the run past 5 minutes); a quick run measures every column.
 */
function measuresGrowth(transport: TransportName, backend: Backend): boolean {
  return quick || transport !== 'curvetun' || backend === availableBackends()[0];
}

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
  const seq = await handshakeFigures(s.p, c, 1);
  f.handshakesSeqPerSec = seq.perSec;
  f.cpuPerHandshakeSeqUs = seq.cpuUs;
  const par = await handshakeFigures(s.p, c, 16);
  f.handshakes16PerSec = par.perSec;
  f.cpuPerHandshake16Us = par.cpuUs;

  // Baseline for growth: handshake time and round trip with no idle connections.
  await sleep(300); // let closed connections go
  const hs0 = await c.ask<{ meanMs: number }>('handshakes', [30, 1, GROWTH_HANDSHAKES]);
  const rtt0 = await c.ask<{ p50: number }>('rtt', [RTT.count / 2, RTT.warmup]);

  trace('memory');
  // Only idle connections may count.
  await settled(s.p);
  // The cost of one more idle connection: IDLE_WARM are opened first (so pools, caches and code
  // that the first connections warm up are in place), then MEM_STEPS steps of IDLE_STEP more, each
  // counted on its own; the figure is the median step. One step alone was thrown off by whatever
  // the garbage collector still held from earlier scenarios (V8 also drops old functions' bytecode
  // after a few collections): a quick run once gave net -266 bytes per connection.
  const idle = await client(transport, backend, s.port, s.key);
  await idle.ask('idle', [IDLE_WARM]);
  const perStep: number[] = [];
  let memBefore = await s.p.ask<{ heap: number; rss: number; connections: number }>('mem');
  for (let step = 0; step < MEM_STEPS; step++) {
    await idle.ask('idle', [IDLE_STEP]);
    const memAfter = await s.p.ask<{ heap: number; rss: number; connections: number }>('mem');
    const opened = Math.max(1, memAfter.connections - memBefore.connections);
    // JS heap + external + array buffers: this misses what native code mallocs outside V8's
    // accounting (OpenSSL's per-connection state), so TLS's figure is a lower bound. RSS was tried
    // and moved by whole pages and allocator arenas, too coarse to compare.
    perStep.push((memAfter.heap - memBefore.heap) / opened);
    memBefore = memAfter;
  }
  f.memPerIdleConnBytes = median(perStep);

  if (measuresGrowth(transport, backend)) {
    trace('growth');
    await idle.ask('idle', [IDLE_GROWTH - IDLE_WARM - MEM_STEPS * IDLE_STEP]);
    const hs1 = await c.ask<{ meanMs: number }>('handshakes', [30, 1, GROWTH_HANDSHAKES]);
    const rtt1 = await c.ask<{ p50: number }>('rtt', [RTT.count / 2, RTT.warmup]);
    f.growthHandshakeRatio = hs1.meanMs / hs0.meanMs;
    f.growthRttRatio = rtt1.p50 / rtt0.p50;
  } else {
    f.growthHandshakeRatio = f.growthRttRatio = NaN;
  }
  await Promise.all([idle.exit(), c.exit()]);
  await s.p.exit();
  return f;
}

interface Ceiling {
  sealMBps: number;
  openMBps: number;
  /** The smaller of the two: what bulk could reach if nothing but the cipher cost anything. */
  ceilingMBps: number;
  /** Whether the two processes were held on CPU 0 and CPU 1 (taskset). */
  pinned: boolean;
}

/** The two-process cipher ceiling: a sealer on CPU 0 and an opener on CPU 1, running at once. */
async function cipherCeiling(backend: Backend): Promise<Ceiling> {
  const seal = Proc.start('./ceiling.ts', ['seal', backend]);
  const open = Proc.start('./ceiling.ts', ['open', backend]);
  try {
    await Promise.all([seal.next(60_000), open.next(60_000)]);
    const held = cpus().length >= 2 && pin(seal, '0') && pin(open, '1');
    const [s, o] = await Promise.all([seal.ask<{ mbps: number }>('run', [CEILING_MS]), open.ask<{ mbps: number }>('run', [CEILING_MS])]);
    return { sealMBps: s.mbps, openMBps: o.mbps, ceilingMBps: Math.min(s.mbps, o.mbps), pinned: held };
  } finally {
    await Promise.all([seal.exit(), open.exit()]);
  }
}

// `--only=curvetun/node,…` (for profiling) measures those columns and the two references.
const REFERENCES = ['tls', 'secret-stream'] as const;
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const columns: { name: string; transport: TransportName; backend: Backend }[] = [
  { name: 'net', transport: 'net' as const, backend: 'tweetnacl' as const },
  { name: 'tls', transport: 'tls' as const, backend: 'tweetnacl' as const },
  { name: 'secret-stream', transport: 'secret-stream' as const, backend: 'sodium' as const },
  ...availableBackends().map((b) => ({ name: `curvetun/${b}`, transport: 'curvetun' as const, backend: b })),
  // Protocol v2, hybrid (ML-KEM-768) and classical, on the fastest backend here.
  { name: `curvetun-v2/${availableBackends()[0]!}`, transport: 'curvetun-v2' as const, backend: availableBackends()[0]! },
  { name: `curvetun-v2c/${availableBackends()[0]!}`, transport: 'curvetun-v2c' as const, backend: availableBackends()[0]! },
].filter((c) => !only || only.includes(c.name) || (REFERENCES as readonly string[]).includes(c.name));

const record = new RunRecord(commandLine('npm run bench'), quick);
const results: Record<string, Figures> = {};
for (const col of columns) {
  process.stderr.write(`measuring ${col.name}…\n`);
  results[col.name] = await measure(col.transport, col.backend);
}
const ceilings: Partial<Record<Backend, Ceiling>> = {};
for (const col of columns) {
  if (col.transport !== 'curvetun') continue;
  process.stderr.write(`cipher ceiling ${col.backend}…\n`);
  ceilings[col.backend] = await cipherCeiling(col.backend);
}

const rows: [keyof Figures, string, number][] = [
  ['bulkMBps', 'bulk MB/s (65 000-byte messages)', 1],
  ['smallMsgPerSec', 'small msg/s (64 bytes, pipelined)', 0],
  ['rttP50us', 'round trip p50 µs (1 KiB)', 0],
  ['rttP99us', 'round trip p99 µs (1 KiB)', 0],
  ['rttPinnedP50us', 'round trip p50 µs (1 KiB), main threads pinned to CPU 0 / 1', 0],
  ['handshakesSeqPerSec', 'handshakes/s, sequential', 0],
  ['handshakes16PerSec', 'handshakes/s, 16 concurrent', 0],
  ['cpuPerHandshakeSeqUs', 'CPU µs per handshake, sequential (server + client processes)', 0],
  ['cpuPerHandshake16Us', 'CPU µs per handshake, 16 concurrent (server + client processes)', 0],
  ['memPerIdleConnBytes', `server heap bytes per idle connection (median of ${MEM_STEPS} steps of ${IDLE_STEP})`, 0],
  ['growthHandshakeRatio', `handshake time, ${IDLE_GROWTH} idle vs none`, 2],
  ['growthRttRatio', `round trip, ${IDLE_GROWTH} idle vs none`, 2],
];
const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
/** "value (a× / b×)": the ratios to TLS and to secret-stream, '–' for a column against itself. */
function cell(column: string, key: keyof Figures, digits: number): string {
  const v = results[column]![key];
  if (key.startsWith('growth')) return fmt(v, digits);
  const ratios = REFERENCES.map((ref) => (ref === column ? '–' : `${fmt(v / results[ref]![key], 2)}×`));
  return `${fmt(v, digits)} (${ratios.join(' / ')})`;
}
const lines = [`| figure | ${columns.map((c) => c.name).join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`];
for (const [key, label, digits] of rows) lines.push(`| ${label} | ${columns.map((c) => cell(c.name, key, digits)).join(' | ')} |`);
const perCipher = (text: (c: Ceiling, f: Figures) => string) =>
  columns.map((c) => (c.transport.startsWith('curvetun') && ceilings[c.backend] ? text(ceilings[c.backend]!, results[c.name]!) : '–')).join(' | ');
lines.push(`| cipher ceiling MB/s, two processes: seal on CPU 0 / open on CPU 1 at once, the smaller | ${perCipher((c) => `${fmt(c.ceilingMBps, 0)} (${fmt(c.sealMBps, 0)} / ${fmt(c.openMBps, 0)})`)} |`);
lines.push(`| bulk as % of that ceiling | ${perCipher((c, f) => `${fmt((100 * f.bulkMBps) / c.ceilingMBps, 0)} %`)} |`);
const table = lines.join('\n');

let openssl = 'unknown';
try {
  openssl = execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
} catch {
  // only for the record
}
const versions = {
  tweetnacl: packageVersion('tweetnacl'),
  xstate: packageVersion('xstate'),
  'sodium-native': packageVersion('sodium-native'),
  '@hyperswarm/secret-stream': packageVersion('@hyperswarm/secret-stream'),
  openssl,
  nodeOpenssl: process.versions.openssl,
};
record.write('latest', { versions, results, ceilings, table });
const footer = record.footer('Ratios in parentheses: to TLS 1.3 / to secret-stream. The two growth rows are measured for curvetun on the fastest backend only, v1 and v2 (a property of the connection layer, not of the cipher).');
if (!quick && !only) {
  // Only a complete run stands in bench/RESULTS.md.
  updateResults(
    'npm run bench',
    `${table}\n\n${footer}\n\nReproduce: \`npm run bench\` (under 5 minutes on a quiet machine; \`npm run bench -- --quick\` for a smaller smoke run). Figures and versions: \`bench/results/latest.json\`.`,
  );
}
console.log(`${table}\n\n${footer}`);
