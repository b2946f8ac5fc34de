/**
 * The benchmark must not rot: `npm run bench -- --quick` runs end to end (real processes, TLS,
 * every curvetun backend) and writes every figure. No timing thresholds here: figures are judged
 * in the full benchmark, not in tests.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';

test('npm run bench -- --quick produces every figure for every transport', (t) => {
  t.timeout(240_000);
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], { encoding: 'utf8', timeout: 230_000 });
  t.is(run.status, 0, run.stderr.slice(-2000));
  const report = JSON.parse(readFileSync('bench/results/latest-quick.json', 'utf8'));
  t.true(report.quick);
  const columns = Object.keys(report.results);
  t.true(columns.includes('net') && columns.includes('tls') && columns.some((c) => c.startsWith('curvetun/')));
  for (const [column, figures] of Object.entries<Record<string, number>>(report.results)) {
    for (const name of ['bulkMBps', 'smallMsgPerSec', 'rttP50us', 'rttP99us', 'handshakesSeqPerSec', 'handshakes16PerSec', 'growthHandshakeRatio', 'growthRttRatio']) {
      t.true(Number.isFinite(figures[name]) && figures[name]! > 0, `${column}.${name} = ${figures[name]}`);
    }
    t.true(Number.isFinite(figures.memPerIdleConnBytes), `${column}.memPerIdleConnBytes`);
  }
  t.regex(run.stdout, /\| figure \| net \| tls \|/);
});
