/**
 * `npm run bench:tunnel [-- --quick] [--only=direct,spiped,…]`: redis-benchmark (`-t set,get`,
 * three loads) against redis-server directly and through each tunnel of bench/tunnel-rows.ts
 * (curvetun's own CLI processes, tunnel → serve and gateway → agent; spiped; stunnel), all in one
 * run on 127.0.0.1. A row whose programs are not on PATH says "not installed" and the rest still run. Prints a table with ratios
 * to spiped and writes bench/results/tunnel.json (tunnel-quick.json); a full run also rewrites its
 * section of bench/RESULTS.md. With BENCH_PROFILE=<dir>, curvetun's processes write V8 CPU
 * profiles there (e.g. `BENCH_PROFILE=/tmp/p npx tsx bench/tunnel.ts --only=curvetun`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../lib/crypto/index.js';
import { cpuMicros, freePorts, startReady, which } from './daemon.js';
import type { Daemon } from './daemon.js';
import { RunRecord, commandLine, toolVersion, updateResults } from './report.js';
import { ROWS, rowDir } from './tunnel-rows.js';
import type { Front, TunnelRow } from './tunnel-rows.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
/** -n per load: about 2–8 s per test and row on the 2-core machine, the whole run well under 3 min. */
const LOADS = [
  { name: '-c 1', args: ['-c', '1'], requests: quick ? 300 : 10_000 },
  { name: '-c 50', args: ['-c', '50'], requests: quick ? 1000 : 20_000 },
  { name: '-c 50 -P 16', args: ['-c', '50', '-P', '16'], requests: quick ? 5000 : 200_000 },
];
/** Untimed, before the loads: curvetun's JavaScript runs optimised code, as in a tunnel that has been up a while. */
const WARM_UP = { name: 'warm-up', args: ['-c', '10'], requests: quick ? 500 : 20_000 };
const TESTS = ['SET', 'GET'] as const;
const REDIS = ['redis-server', 'redis-benchmark'];
const REFERENCE = 'spiped';

interface RowResult {
  label: string;
  status: 'ok' | 'not installed' | 'failed';
  missing?: string[];
  error?: string;
  /** req/s per load and test. */
  figures: Record<string, Record<(typeof TESTS)[number], number>>;
  /** Per-request latency p50 / p99 (ms) per load and test, as redis-benchmark reports it. */
  latencyMs: Record<string, Record<(typeof TESTS)[number], { p50: number; p99: number }>>;
  /** CPU time of the row's own processes (not redis, not redis-benchmark) per request, µs, per load. */
  cpuPerRequestUs: Record<string, number>;
}

/** Whether redis on `port` answers PING. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => (reply += chunk.toString()) && reply.includes('\r\n') && done(reply.startsWith('+PONG')));
    socket.once('error', () => done(false));
  });
}

async function startRedis(file: string, dir: string): Promise<{ port: number; daemon: Daemon }> {
  const [port] = (await freePorts(1)) as [number];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  return { port, daemon: await startReady('redis-server', file, args, () => pings(port)) };
}

type Test = (typeof TESTS)[number];
interface Measured {
  rps: Record<Test, number>;
  /** redis-benchmark's own per-request latency percentiles, ms. */
  latencyMs: Record<Test, { p50: number; p99: number }>;
}

/** One redis-benchmark run: req/s and latency for SET and GET (throws when it fails or gives no figure). */
function redisBenchmark(file: string, port: number, load: (typeof LOADS)[number]): Promise<Measured> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'set,get', '-n', String(load.requests), ...load.args, '--csv'];
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: quick ? 60_000 : 120_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`redis-benchmark ${load.name}: ${stderr.trim() || error.message}`));
      // --csv: a header, then "SET","<req/s>","<avg ms>","<min>","<p50>","<p95>","<p99>","<max>" and the same for GET.
      const fields = (test: Test) => (new RegExp(`^"${test}",(.*)$`, 'm').exec(stdout)?.[1] ?? '').split(',').map((f) => Number(f.replaceAll('"', '')));
      const [set, get] = [fields('SET'), fields('GET')];
      const measured: Measured = {
        rps: { SET: set[0] ?? NaN, GET: get[0] ?? NaN },
        latencyMs: { SET: { p50: set[3] ?? NaN, p99: set[5] ?? NaN }, GET: { p50: get[3] ?? NaN, p99: get[5] ?? NaN } },
      };
      if (!TESTS.every((t) => measured.rps[t] > 0)) return reject(new Error(`redis-benchmark ${load.name} printed no figures: ${stdout.slice(0, 300)}`));
      resolve(measured);
    });
  });
}

const record = new RunRecord(commandLine('npm run bench:tunnel'), quick);
const rows = ROWS.filter((row) => !only || only.includes(row.name));
const paths: Record<string, string | null> = {};
for (const tool of new Set([...REDIS, ...rows.flatMap((row) => row.tools)])) paths[tool] = which(tool);
const found = (tools: string[]) => Object.fromEntries(tools.map((t) => [t, paths[t]!]));

const results: Record<string, RowResult> = {};
const fronts = new Map<TunnelRow, Front>();
const base = mkdtempSync(join(tmpdir(), 'curvetun-bench-tunnel-'));
let redis: { port: number; daemon: Daemon } | null = null;
try {
  for (const row of rows) {
    const missing = [...REDIS, ...row.tools].filter((tool) => !paths[tool]);
    results[row.name] = missing.length > 0 ? { label: row.label, status: 'not installed', missing, figures: {}, latencyMs: {}, cpuPerRequestUs: {} } : { label: row.label, status: 'ok', figures: {}, latencyMs: {}, cpuPerRequestUs: {} };
  }
  if (paths['redis-server'] && paths['redis-benchmark']) {
    redis = await startRedis(paths['redis-server'], rowDir(base, { name: 'redis' } as TunnelRow));
    for (const row of rows) {
      if (results[row.name]!.status !== 'ok') continue;
      process.stderr.write(`starting ${row.name}…\n`);
      try {
        const front = await row.start(redis.port, rowDir(base, row), found(row.tools));
        fronts.set(row, front);
        await redisBenchmark(paths['redis-benchmark'], front.port, WARM_UP);
      } catch (error) {
        Object.assign(results[row.name]!, { status: 'failed', error: (error as Error).message });
      }
    }
    // Load by load, every row in turn, so the rows of one load are measured close together.
    for (const load of LOADS) {
      for (const [row, front] of fronts) {
        const result = results[row.name]!;
        if (result.status !== 'ok') continue;
        process.stderr.write(`redis-benchmark ${load.name} -n ${load.requests}: ${row.name}…\n`);
        try {
          const cpuBefore = cpuMicros(front.pids);
          const measured = await redisBenchmark(paths['redis-benchmark']!, front.port, load);
          if (front.pids.length > 0) result.cpuPerRequestUs[load.name] = (cpuMicros(front.pids) - cpuBefore) / (TESTS.length * load.requests);
          result.figures[load.name] = measured.rps;
          result.latencyMs[load.name] = measured.latencyMs;
        } catch (error) {
          Object.assign(result, { status: 'failed', error: (error as Error).message });
        }
      }
    }
  }
} finally {
  await Promise.all([...fronts.values()].map((front) => front.stop()));
  await redis?.daemon.stop();
  rmSync(base, { recursive: true, force: true });
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 0 }) : '–');
const columns = LOADS.flatMap((load) => TESTS.map((test) => ({ load: load.name, test })));
const reference = results[REFERENCE]?.status === 'ok' ? results[REFERENCE] : undefined;
const lines = [`| through | ${columns.map((c) => `${c.test} ${c.load}`).join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`];
for (const row of rows) {
  const result = results[row.name]!;
  if (result.status === 'not installed') {
    lines.push(`| ${row.label} | not installed (${result.missing!.join(', ')}) |${columns.slice(1).map(() => ' – |').join('')}`);
    continue;
  }
  const cells = columns.map(({ load, test }) => {
    const v = result.figures[load]?.[test] ?? NaN;
    const ref = reference?.figures[load]?.[test];
    return ref && Number.isFinite(v) && row.name !== REFERENCE ? `${fmt(v)} (${(v / ref).toFixed(2)}×)` : fmt(v);
  });
  lines.push(`| ${row.label}${result.status === 'failed' ? ' (failed)' : ''} | ${cells.join(' | ')} |`);
}
// Where the time goes: the tunnel's own processes, per request (SET and GET together).
lines.push('', `| CPU µs per request in the row's own processes | ${LOADS.map((l) => l.name).join(' | ')} |`, `|---|${LOADS.map(() => '---:').join('|')}|`);
for (const row of rows) {
  const cpu = results[row.name]!.cpuPerRequestUs;
  if (Object.keys(cpu).length > 0) lines.push(`| ${row.label} | ${LOADS.map((l) => (Number.isFinite(cpu[l.name]) ? cpu[l.name]!.toFixed(1) : '–')).join(' | ')} |`);
}
const table = lines.join('\n');
const versions = {
  'redis-server': paths['redis-server'] ? toolVersion(paths['redis-server'], ['--version']) : 'absent',
  spiped: paths.spiped ? toolVersion(paths.spiped, ['-v']) : 'absent',
  stunnel: paths.stunnel ? toolVersion(paths.stunnel, ['-version']) : 'absent',
  curvetunBackend: getBackend('auto').name,
};
record.write('tunnel', { versions, loads: LOADS, results, table });
const requests = LOADS.map((l) => `${l.name}: -n ${l.requests.toLocaleString('en-US')}`).join(', ');
const footer = record.footer(`req/s from \`redis-benchmark -t set,get\` (${requests}); ratios in parentheses are to spiped.`);
if (!quick && !only && !process.env.BENCH_PROFILE) {
  // Only a complete, unprofiled run stands in bench/RESULTS.md.
  updateResults('npm run bench:tunnel', `${table}\n\n${footer}\n\nReproduce: \`npm run bench:tunnel\` (under 3 minutes; \`-- --quick\` for a smoke run). Figures and versions: \`bench/results/tunnel.json\`.`);
}
for (const [name, r] of Object.entries(results)) if (r.status === 'failed') process.stderr.write(`${name} failed: ${r.error}\n`);
console.log(`${table}\n\n${footer}`);
