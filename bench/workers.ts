/**
 * Server CPU per handshake with `--workers` (issue 20): `curvetun echo-server` as one process, and
 * as a primary with 1 and with 2 workers, each driven by the same client load from this process
 * (C connections at a time, each: handshake, one 32-byte echo, close). The figure is the CPU time
 * (user + system, all threads: vault, cookie keeper, registry) of every server process, primary
 * included, over the handshakes completed; capacity per core follows as 1 s / that. Handshakes per
 * second are printed too but, on a machine whose cores the client shares, they say little.
 *
 *   npx tsx bench/workers.ts [--handshakes N] [--concurrency C] [--crypto auto|node|tweetnacl|sodium] [--protocol v1|v2|v2-classical]
 *   npx tsx bench/workers.ts --quick     # 300 handshakes per row
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../lib/api.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { encodePublicKeyText } from '../lib/keys/text.js';
import { generateKeyFiles } from '../lib/keys/generate.js';
import { getBackend } from '../lib/crypto/index.js';
import type { BackendChoice } from '../lib/crypto/index.js';
import { LocalVault } from '../lib/vault/index.js';
import { cpuMicros, startDaemon, waitUntil } from './daemon.js';
import type { Daemon } from './daemon.js';
import { machineLine } from './report.js';

const { values } = parseArgs({
  options: {
    handshakes: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    crypto: { type: 'string', default: 'auto' },
    quick: { type: 'boolean', default: false },
    protocol: { type: 'string', default: 'v2' },
  },
});
const HANDSHAKES = values.quick ? 300 : Number(values.handshakes);
const CONCURRENCY = Number(values.concurrency);
const WARM_UP = Math.min(100, HANDSHAKES);
const crypto = getBackend(values.crypto as BackendChoice).name as BackendChoice;
/** v2 is the default and hybrid (X25519 + ML-KEM-768); v2-classical is X25519 only; v1 is curve_tun's. */
const PROTOCOL = values.protocol!;
if (!['v1', 'v2', 'v2-classical'].includes(PROTOCOL)) throw new Error('--protocol is v1, v2 or v2-classical');
const connectVersion = PROTOCOL === 'v1' ? ({ protocol: 'v1' } as const) : ({ protocol: 'v2', postQuantum: PROTOCOL === 'v2' } as const);

interface Row {
  name: string;
  handshakes: number;
  seconds: number;
  serverCpuUs: number;
  primaryCpuUs: number;
}

const dir = mkdtempSync(join(tmpdir(), 'curvetun-bench-workers-'));
const home = join(dir, 'server');
const clientKey = join(dir, 'client', 'id_curvetun');
for (const d of [home, join(dir, 'client')]) mkdirSync(d, { mode: 0o700 });
generateKeyFiles(join(home, 'id_curvetun'), getBackend(crypto), 'bench server');
generateKeyFiles(clientKey, getBackend(crypto), 'bench client');
const client = await LocalVault.open({ secretKeyFile: clientKey, crypto });
// @v1: the client may speak v1 too (only when --protocol v1 asks it to).
writeFileSync(join(home, 'known_hosts'), `@v1 127.0.0.1 ${encodePublicKeyText(client.publicKey)}\n`, { mode: 0o600 });
const serverKey = loadPublicKeyFile(join(home, 'id_curvetun.pub'));

/** Start echo-server (with `workers`, or as one process) and wait until every process listens. */
async function startServer(workers: number | null): Promise<{ daemon: Daemon; port: number; pids: number[] }> {
  const args = ['--import', 'tsx', 'bin/curvetun.ts', 'echo-server', '--home', home, '--listen', '127.0.0.1:0', '--max-connections', '4096', ...(workers ? ['--workers', String(workers)] : [])];
  const daemon = startDaemon(process.execPath, args, {});
  const ready = workers ? new RegExp(`listening address=\\S+:(\\d+) workers=${workers} role=primary`) : /listening address=\S+:(\d+)/;
  const port = await waitUntil(daemon, 'echo-server', () => {
    const match = ready.exec(daemon.output());
    return match ? Number(match[1]) : null;
  }, 300_000);
  const workerPids = [...daemon.output().matchAll(/worker_started worker=\d+ pid=(\d+)/g)].map((m) => Number(m[1]));
  return { daemon, port, pids: [daemon.child.pid!, ...workerPids] };
}

/** `count` handshakes, `CONCURRENCY` at a time; each echoes one message so the server has finished its side. */
async function drive(port: number, count: number): Promise<void> {
  let next = 0;
  const message = new Uint8Array(32);
  const lane = async () => {
    while (next < count) {
      next++;
      const socket = await connect('127.0.0.1', port, { serverKey, vault: client, crypto, timeout: 60_000, ...connectVersion });
      await socket.send(message);
      await socket.recv({ timeout: 60_000 });
      await socket.close();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

async function measure(name: string, workers: number | null): Promise<Row> {
  const { daemon, port, pids } = await startServer(workers);
  try {
    await drive(port, WARM_UP); // JIT, vault caches and counter reservations warmed up in every worker
    const [cpuBefore, primaryBefore, started] = [cpuMicros(pids), cpuMicros([pids[0]!]), performance.now()];
    await drive(port, HANDSHAKES);
    const seconds = (performance.now() - started) / 1000;
    return { name, handshakes: HANDSHAKES, seconds, serverCpuUs: cpuMicros(pids) - cpuBefore, primaryCpuUs: cpuMicros([pids[0]!]) - primaryBefore };
  } finally {
    await daemon.stop();
  }
}

const loadBefore = loadavg()[0]!;
const started = Date.now();
const rows: Row[] = [];
try {
  rows.push(await measure('one process (no --workers)', null));
  rows.push(await measure('--workers 1 (primary + 1)', 1));
  rows.push(await measure('--workers 2 (primary + 2)', 2));
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
console.log(`| server | server CPU µs per handshake (all its processes) | of which the primary | capacity per core (handshakes/s = 1 s / CPU per handshake) | handshakes/s here (client on the same cores) |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const r of rows) {
  const perHandshake = r.serverCpuUs / r.handshakes;
  console.log(`| ${r.name} | ${fmt(perHandshake)} | ${fmt(r.primaryCpuUs / r.handshakes)} | ${fmt(1e6 / perHandshake)} | ${fmt(r.handshakes / r.seconds)} |`);
}
console.log(
  `\n${machineLine()}; crypto ${crypto}, protocol ${PROTOCOL}; ${HANDSHAKES} handshakes per row (+${WARM_UP} warm-up), ${CONCURRENCY} at a time, each with one 32-byte echo; ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s. Load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after.`,
);
