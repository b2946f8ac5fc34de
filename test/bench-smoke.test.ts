/**
 * The benchmark must not rot: `npm run bench -- --quick` runs end to end (real processes, TLS,
 * secret-stream, every curvetun backend, the two-process cipher ceiling) and writes every figure.
 * No timing thresholds here: figures are judged in the full benchmark, not in tests.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';

/** Run the quick benchmark without blocking this worker (ava must keep hearing from it). */
function runQuick(): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 230_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

test('npm run bench -- --quick produces every figure for every transport', async (t) => {
  t.timeout(240_000);
  const run = await runQuick();
  t.is(run.status, 0, run.stderr.slice(-2000));
  const report = JSON.parse(readFileSync('bench/results/latest-quick.json', 'utf8'));
  t.true(report.quick);
  const columns = Object.keys(report.results);
  t.true(columns.includes('net') && columns.includes('tls') && columns.includes('secret-stream') && columns.some((c) => c.startsWith('curvetun/')));
  for (const [column, figures] of Object.entries<Record<string, number>>(report.results)) {
    for (const name of ['bulkMBps', 'smallMsgPerSec', 'rttP50us', 'rttP99us', 'handshakesSeqPerSec', 'handshakes16PerSec', 'cpuPerHandshakeSeqUs', 'cpuPerHandshake16Us', 'memPerIdleConnBytes', 'growthHandshakeRatio', 'growthRttRatio']) {
      t.true(Number.isFinite(figures[name]) && figures[name]! > 0, `${column}.${name} = ${figures[name]}`);
    }
  }
  // The pinned round trip is left out only where taskset is missing.
  let taskset = true;
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    taskset = false;
  }
  for (const [column, figures] of Object.entries<Record<string, number>>(report.results)) {
    const pinned = figures.rttPinnedP50us;
    if (taskset) t.true(Number.isFinite(pinned) && pinned! > 0, `${column}.rttPinnedP50us = ${pinned}`);
    else t.true(pinned === null || Number.isNaN(pinned), `${column}.rttPinnedP50us without taskset`);
  }
  // A two-process cipher ceiling for every curvetun backend measured, pinned where taskset is.
  const backends = columns.filter((c) => c.startsWith('curvetun/')).map((c) => c.slice('curvetun/'.length));
  t.deepEqual(Object.keys(report.ceilings).sort(), backends.sort());
  for (const [backend, c] of Object.entries<Record<string, number | boolean>>(report.ceilings)) {
    for (const name of ['sealMBps', 'openMBps']) t.true(Number.isFinite(c[name]) && (c[name] as number) > 0, `ceiling ${backend}.${name}`);
    t.is(c.ceilingMBps, Math.min(c.sealMBps as number, c.openMBps as number));
    t.is(c.pinned, taskset);
  }
  t.truthy(report.machine.node && report.versions.tweetnacl && report.versions['@hyperswarm/secret-stream'] && report.command);
  t.regex(run.stdout, /\| figure \| net \| tls \| secret-stream \|/);
  t.regex(run.stdout, /\| bulk as % of that ceiling \| – \| – \| – \| \d+ %/);
});
