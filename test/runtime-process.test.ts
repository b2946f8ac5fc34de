/**
 * The runtime as a whole program sees it: from source under tsx and compiled with plain node, a
 * program gets the replies it awaits and then exits by itself, without calling stop().
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';

/**
 * Killed after this long: "exits by itself" means it exits before that, whatever the machine's
 * load. The programs' call deadline (runtime-exit.ts) is longer still, so a program kept alive by
 * a pending call's timer would be killed here, not slip out when that timer fires.
 */
const KILL_AFTER_MS = 300_000;

function runProgram(args: string[]) {
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: KILL_AFTER_MS });
  return { ...result, ms: Date.now() - started };
}

for (const mode of ['slow', 'restart'] as const) {
  test(`under tsx, ${mode}: the awaited reply arrives and the program exits by itself`, (t) => {
    t.timeout(KILL_AFTER_MS + 60_000);
    const result = runProgram(['--import', 'tsx', 'test/fixtures/runtime-exit.ts', mode]);
    t.is(result.signal, null, 'it had to be killed: something kept the process alive');
    t.is(result.status, 0, result.stderr);
    t.is(result.stdout.trim(), mode === 'slow' ? '300' : 'hello');
    t.log(`exited by itself after ${result.ms} ms`);
  });
}

test('compiled with plain node: workers load from .js, errors keep their code, supervision and exit work', (t) => {
  t.timeout(KILL_AFTER_MS + 120_000);
  const out = mkdtempSync(join(tmpdir(), 'curvetun-runtime-dist-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  // Only the runtime and what it imports: fast, and proves it needs nothing else.
  execFileSync(
    process.execPath,
    [
      resolve('node_modules/typescript/bin/tsc'),
      ...['--outDir', out, '--rootDir', resolve('lib'), '--module', 'nodenext', '--moduleResolution', 'nodenext'],
      ...['--target', 'es2022', '--types', 'node', '--strict', '--skipLibCheck'],
      'lib/runtime/index.ts',
      'lib/runtime/serve.ts',
    ],
    { stdio: 'pipe' },
  );
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(out, 'worker.js'),
    `import { serveActor } from './runtime/serve.js';
import { CurvetunError } from './errors.js';
serveActor((init) => ({
  add: ({ a, b }) => a + b + init.offset,
  sleep: (ms) => new Promise((r) => setTimeout(() => r(ms), ms)),
  refuse: () => { throw new CurvetunError('EAUTH', 'refused'); },
  crash: () => { setImmediate(() => { throw new Error('boom'); }); return 1; },
}));
`,
  );
  writeFileSync(
    join(out, 'main.js'),
    `import { startActor } from './runtime/index.js';
const actor = await startActor({ name: 'dist', script: new URL('./worker.js', import.meta.url), init: { offset: 1 }, callTimeoutMs: 600000, restart: { backoffMs: 10 } });
const out = {};
out.add = await actor.call('add', { a: 2, b: 3 });
out.refused = await actor.call('refuse').catch((e) => e.code + ':' + e.message);
out.timeout = await actor.call('sleep', 2000, { timeoutMs: 50 }).catch((e) => e.code);
let restarts = 0;
actor.on('restart', () => restarts++);
const inFlight = actor.call('sleep', 60000).catch((e) => e.code); // only the crash can end it
await actor.call('crash');
out.inFlight = await inFlight;
out.afterRestart = await actor.call('add', { a: 10, b: 0 }); // waits for the restart
out.restarts = restarts;
out.slow = await actor.call('sleep', 300);
console.log(JSON.stringify(out));
// no stop(): the program must end by itself
`,
  );
  const result = runProgram([join(out, 'main.js')]);
  t.is(result.signal, null, 'the process had to be killed');
  t.is(result.status, 0, result.stderr);
  t.deepEqual(JSON.parse(result.stdout), { add: 6, refused: 'EAUTH:refused', timeout: 'ETIMEDOUT', inFlight: 'EACTOR', afterRestart: 11, restarts: 1, slow: 300 });
  t.log(`exited by itself after ${result.ms} ms`);
});
