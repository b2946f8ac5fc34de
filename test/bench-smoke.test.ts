/**
 * The benchmark must not rot: `npm run bench -- --quick` runs end to end (real processes, TLS,
 * secret-stream, every curvetun backend, the two-process cipher ceiling) and writes every figure.
 * No timing thresholds here: figures are judged in the full benchmark, not in tests.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { runBench } from './helpers/bench-run.js';

test('npm run bench -- --quick produces every figure for every transport', async (t) => {
  t.timeout(600_000); // minutes when the 2-core machine is shared; the quick run takes about one when it is not
  const run = await runBench('bench/run.ts', ['--quick'], { killAfterMs: 590_000 });
  t.is(run.status, 0, run.stderr.slice(-2000));
  const report = JSON.parse(readFileSync('bench/results/latest-quick.json', 'utf8'));
  t.true(report.quick);
  const columns = Object.keys(report.results);
  t.true(columns.includes('net') && columns.includes('tls') && columns.includes('secret-stream') && columns.some((c) => c.startsWith('curvetun/')));
  for (const [column, figures] of Object.entries<Record<string, number>>(report.results)) {
    for (const name of ['bulkMBps', 'smallMsgPerSec', 'rttP50us', 'rttP99us', 'handshakesSeqPerSec', 'handshakes16PerSec', 'cpuPerHandshakeSeqUs', 'cpuPerHandshake16Us', 'growthHandshakeRatio', 'growthRttRatio']) {
      t.true(Number.isFinite(figures[name]) && figures[name]! > 0, `${column}.${name} = ${figures[name]}`);
    }
    // Measured, not judged: a quick run's 150 connections a step are within the garbage
    // collector's noise on a busy machine (raw TCP's ~1 KB each once came out negative).
    t.true(Number.isFinite(figures.memPerIdleConnBytes), `${column}.memPerIdleConnBytes = ${figures.memPerIdleConnBytes}`);
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
