/**
 * The tunnel benchmark must not rot: `npm run bench:tunnel -- --quick` starts redis, curvetun's own
 * CLI processes, spiped and stunnel, and every row whose programs are installed gives req/s for
 * every load; a row whose program is missing says "not installed" while the others still run.
 * No timing thresholds: figures are judged in the full benchmark, not in tests.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runBench } from './helpers/bench-run.js';

const ROW_TOOLS: Record<string, string[]> = {
  direct: [],
  curvetun: [],
  agent: [],
  spiped: ['spiped'],
  stunnel: ['stunnel', 'openssl'],
};
const REDIS = ['redis-server', 'redis-benchmark'];
const LOADS = ['-c 1', '-c 50', '-c 50 -P 16'];
const RECORD = 'bench/results/tunnel-quick.json';

const installed = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Run the quick tunnel benchmark; its JSON record afterwards (null when it wrote none). */
async function runQuick(args: string[], env: NodeJS.ProcessEnv = process.env) {
  rmSync(RECORD, { force: true }); // a record left by an earlier run must not pass for this one's
  // Only a hung run is killed: on a loaded machine the five rows' quick loads took over 280 s.
  const run = await runBench('bench/tunnel.ts', ['--quick', ...args], { env, killAfterMs: 560_000 });
  let report: any = null;
  try {
    report = JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch {
    // judged by the caller
  }
  return { ...run, report };
}

function checkRow(t: import('ava').ExecutionContext, report: any, name: string, missing: string[]): void {
  const row = report.results[name];
  t.truthy(row, `row ${name} is in the record`);
  if (missing.length > 0) {
    t.is(row.status, 'not installed', `${name}: ${JSON.stringify(row)}`);
    t.deepEqual(row.missing, missing);
    return;
  }
  t.is(row.status, 'ok', `${name}: ${row.error ?? ''}`);
  for (const load of LOADS) {
    for (const op of ['SET', 'GET']) {
      const v = row.figures[load]?.[op];
      t.true(Number.isFinite(v) && v > 0, `${name} ${op} ${load} = ${v}`);
    }
  }
}

test.serial('npm run bench:tunnel -- --quick: every row that can run gives req/s for every load, the others say "not installed"', async (t) => {
  t.timeout(600_000);
  const run = await runQuick([]);
  t.is(run.status, 0, run.stderr.slice(-2000));
  t.true(run.report.quick);
  t.deepEqual(Object.keys(run.report.results), Object.keys(ROW_TOOLS));
  for (const [name, tools] of Object.entries(ROW_TOOLS)) checkRow(t, run.report, name, [...REDIS, ...tools].filter((tool) => !installed(tool)));
  t.regex(run.stdout, /\| through \| SET -c 1 \| GET -c 1 \| SET -c 50 \| GET -c 50 \| SET -c 50 -P 16 \| GET -c 50 -P 16 \|/);
  t.truthy(run.report.machine.node && run.report.versions && run.report.command);
});

test.serial('a PATH without spiped gives its row "not installed", and the direct row still runs', async (t) => {
  t.timeout(600_000);
  // A PATH with every program the two rows could use except spiped.
  const bin = mkdtempSync(join(tmpdir(), 'curvetun-bench-path-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  for (const tool of REDIS) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(bin, tool));
  }
  const run = await runQuick(['--only=direct,spiped'], { ...process.env, PATH: bin });
  t.is(run.status, 0, run.stderr.slice(-2000));
  t.deepEqual(Object.keys(run.report.results), ['direct', 'spiped']);
  const redisMissing = REDIS.filter((tool) => !installed(tool));
  checkRow(t, run.report, 'spiped', [...redisMissing, 'spiped']);
  checkRow(t, run.report, 'direct', redisMissing);
  t.regex(run.stdout, /\| spiped -e → spiped -d \| not installed \([^)]*spiped\) \|/);
});
