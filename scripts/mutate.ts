/**
 * `npm run mutate [-- [--concurrency N] [--markdown] [file …]]`: mutation testing of the
 * security-critical files (issue 19). Outside `npm test`: it takes tens of minutes.
 *
 * Stryker (its command runner, so ava + tsx run exactly as in `npm test`, and its TypeScript
 * checker, so mutants that do not compile are not run) mutates one file at a time; each mutant
 * runs only the tests that cover that file (TARGETS: the one list to edit when files move or
 * tests are renamed). Error message texts are not mutated (scripts/mutate/ignore-message-text.mjs).
 *
 * Everything happens in a temporary copy of this tree (tracked files and untracked ones git does
 * not ignore, so work in progress is included; node_modules linked, not copied). The copy is
 * removed at the end, on failure and on Ctrl-C; the tree this runs from is never written to.
 *
 * Prints killed / survived per file and every survivor with its place and change. Survivors that
 * scripts/mutate/explained.ts explains (an equivalent mutant, and why) are shown with the reason;
 * any other survivor makes the run exit 1. `--markdown` also prints the table for SECURITY.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize, printSummary, printMarkdown } from './mutate/report.js';
import type { FileResult, StrykerReport } from './mutate/report.js';

interface Target {
  /** The file to mutate. */
  file: string;
  /** The test files that cover it: a mutant costs one ava run of these. */
  tests: string[];
  /** ava --match patterns (matched against every title of the run), to run only part of a slow file. */
  match?: string[];
}

const TARGETS: Target[] = [
  {
    file: 'lib/connection/handshake.ts',
    tests: ['test/handshake-bindings.test.ts', 'test/connection.test.ts', 'test/trace.test.ts'],
    match: [
      // test/trace.test.ts: the handshake's stages, in order, in the NODE_DEBUG trace
      'NODE_DEBUG=curvetun traces*',
      // test/handshake-bindings.test.ts: every test
      'a real vouch*',
      'a cookie from connection A*',
      'a correctly boxed Hello*',
      'a Hello or Vouch whose counter*',
      'the server wipes*',
      'a vault adapter whose Hello*',
      'a packet of another type*',
      // test/connection.test.ts: the handshake's own outcomes
      'echo of*',
      'both ends know each other*',
      '*Cookie*',
      'a flipped byte in the Hello*',
      'a flipped byte in the Vouch*',
      'a captured Vouch*',
      'a client key the server does not allow*',
      'a wrong server key*',
      'a vault adapter without openHello*',
    ],
  },
  { file: 'lib/connection/session.ts', tests: ['test/session.test.ts'] },
  { file: 'lib/keys/text.ts', tests: ['test/keys.test.ts'] },
  { file: 'lib/cookie/core.ts', tests: ['test/cookie-core.test.ts', 'test/cookie.test.ts'] },
  { file: 'lib/protocol/frame.ts', tests: ['test/frame.test.ts', 'test/protocol.test.ts'] },
  { file: 'lib/protocol/boxes.ts', tests: ['test/boxes.test.ts', 'test/protocol.test.ts', 'test/handshake-bindings.test.ts'] },
  { file: 'lib/vault/counter.ts', tests: ['test/counter-source.test.ts', 'test/counter-lock.test.ts', 'test/vault-counter.test.ts'] },
  // Protocol v2 (issue 19 item 3): binding checks, key schedule, READY/REJECT, session counters.
  {
    file: 'lib/connection/session-v2.ts',
    tests: ['test/session-v2.test.ts', 'test/session-v2-messages.test.ts', 'test/v2-epoch-ceiling.test.ts'],
    // The epoch ceiling at its edge only: the walks to 2^21 frames / 2^31 bytes cost a minute a mutant.
    match: ['!frames:*', '!bytes:*', '!end to end:*'],
  },
  { file: 'lib/protocol/v2/schedule.ts', tests: ['test/v2-vectors.test.ts'] },
  // Ephemeral keys made ahead (issue 17): each pair handed out once, never twice.
  { file: 'lib/connection/handshake-ahead.ts', tests: ['test/handshake-ahead.test.ts'] },
  // A listener's admission caps (checked before any cryptography) and its handshake reports.
  {
    file: 'lib/connection/handshake-admission.ts',
    tests: ['test/handshake-admission.test.ts', 'test/hostile-flood.test.ts', 'test/revoke.test.ts'],
    // 'the per-address cap*' matches a test of each of the first two files.
    match: ['the per-address cap*', 'an address whose last handshake*', 'the global pending-handshake cap*', 'handshake reports*'],
  },
  // Frames during the handshake: read-ahead bounded, the first messages kept, the deadline.
  {
    file: 'lib/connection/handshake-feed.ts',
    tests: ['test/handshake-feed.test.ts', 'test/handshake-read-ahead.test.ts', 'test/connection.test.ts', 'test/hostile-flood.test.ts', 'test/close-reasons.test.ts', 'test/trace.test.ts'],
    match: [
      // test/handshake-feed.test.ts: every test
      'frames reach the reader*',
      'the read-ahead bound*',
      'stop(): *',
      'next() decodes*',
      // the version a server heard (a v1 refusal resets), and the stages traced through the feed
      'v1: a refused key reads*',
      'NODE_DEBUG=curvetun traces*',
      'v1: *written in one go with the Vouch*',
      'echo of*',
      'a server that never answers*',
      'a client that stalls mid-handshake*',
      'a flipped byte in the Hello*',
      'a flipped byte in the Vouch*',
      'a peer that pours 5 MB*',
    ],
  },
  // How a v2 session ends: the peer's CLOSE and its failure codes, truncation, the CLOSE we send.
  { file: 'lib/connection/session-end.ts', tests: ['test/session-end-reasons.test.ts', 'test/session-failure-close.test.ts'] },
  {
    file: 'lib/connection/handshake-v2-client.ts',
    tests: ['test/v2-hostile-server.test.ts', 'test/v2-mitm.test.ts', 'test/v2-handshake.test.ts', 'test/v2-handshake-edges.test.ts', 'test/trace.test.ts'],
    match: [
      // test/v2-handshake-edges.test.ts: the client's wipes, a vault without v2, a v1 answer
      'the v2 client wipes*',
      'a vault adapter without sealVouchV2*',
      'a server that answers a v2 Hello*',
      // test/trace.test.ts: the handshake's stages, in order, in the NODE_DEBUG trace
      'NODE_DEBUG=curvetun traces*',
      // test/v2-hostile-server.test.ts: every test
      'the hostile server*',
      'an authenticated*',
      'a READY or REJECT sealed after*',
      // test/v2-mitm.test.ts: what the client checks (Cookie, READY, REJECT)
      'a tampered Cookie*',
      'Cookies swapped*',
      'a tampered, truncated or foreign READY*',
      'READYs swapped*',
      'low-order X25519 keys*',
      // test/v2-handshake.test.ts: one pairing of the backend matrix, REJECTs, server keys
      'v2 [server tweetnacl, client tweetnacl*',
      'a key the registry does not allow*',
      'a full server answers REJECT busy*',
      'a v2 client refuses a server with another key*',
    ],
  },
  {
    file: 'lib/connection/handshake-v2-server.ts',
    tests: ['test/v2-mitm.test.ts', 'test/v2-handshake.test.ts', 'test/v2-handshake-edges.test.ts', 'test/trace.test.ts'],
    match: [
      // test/v2-handshake-edges.test.ts: the server's wipes, admit's outcomes
      'the v2 server wipes*',
      'a cookie admitted by a racing*',
      'a cookie keeper that fails*',
      // test/trace.test.ts: the handshake's stages, in order, in the NODE_DEBUG trace
      'NODE_DEBUG=curvetun traces*',
      // test/v2-mitm.test.ts: every test
      'a v2 Hello rewritten*',
      'stripping the ML-KEM part*',
      'an altered EC*',
      'a tampered Cookie*',
      'Cookies swapped*',
      'Initiates swapped*',
      'a tampered Initiate*',
      'a replayed Initiate*',
      'a vouch made with only*',
      'a genuine vouch for another handshake*',
      'a REJECT probe*',
      'low-order X25519 keys*',
      'a tampered, truncated or foreign READY*',
      'READYs swapped*',
      // test/v2-handshake.test.ts: both suites on one pairing, REJECTs, suites refused
      'v2 [server tweetnacl, client tweetnacl*',
      'a key the registry does not allow*',
      'a full server answers REJECT busy*',
      'versions and suites a listener does not speak*',
    ],
  },
];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : undefined;
};
const concurrency = Number(option('--concurrency') ?? availableParallelism() + 1);
const markdown = args.includes('--markdown') ? (args.splice(args.indexOf('--markdown'), 1), true) : false;
// Files named on the command line run in the order given.
const chosen = args.length > 0 ? args.map((file) => TARGETS.find((t) => t.file === file)).filter((t): t is Target => t !== undefined) : TARGETS;
if (chosen.length !== args.length && args.length > 0) {
  console.error(`not in TARGETS: ${args.filter((a) => !TARGETS.some((t) => t.file === a)).join(' ')}`);
  process.exit(2);
}
if (chosen.length === 0 || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`usage: npm run mutate -- [--concurrency N>=1] [--markdown] [${TARGETS.map((t) => t.file).join(' | ')} …]`);
  process.exit(2);
}
if (!existsSync(join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js'))) {
  console.error('Stryker is not installed: run `npm ci` first.');
  process.exit(2);
}
for (const target of chosen) {
  for (const file of [target.file, ...target.tests]) {
    if (!existsSync(join(root, file))) {
      console.error(`${file} does not exist: update TARGETS in scripts/mutate.ts (files move; keep the list in step).`);
      process.exit(2);
    }
  }
}

// The temporary copy, and its removal whatever happens.
const work = mkdtempSync(join(tmpdir(), 'curvetun-mutate-'));
let running: ReturnType<typeof spawn> | null = null;
const cleanUp = () => rmSync(work, { recursive: true, force: true });
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    // Stryker runs in its own process group: end it with its workers and their ava runs.
    if (running?.pid !== undefined) {
      try {
        process.kill(-running.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    cleanUp();
    process.exit(130);
  });
}

function copyTree(): number {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  let copied = 0;
  for (const file of new Set(listed.stdout.split('\0').filter(Boolean))) {
    const from = join(root, file);
    if (!existsSync(from) || !statSync(from).isFile()) continue; // deleted in the work tree
    mkdirSync(dirname(join(work, file)), { recursive: true });
    copyFileSync(from, join(work, file));
    copied++;
  }
  symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir');
  return copied;
}

function strykerConfig(target: Target, report: string): object {
  const match = (target.match ?? []).map((m) => `--match='${m.replaceAll("'", "'\\''")}'`);
  return {
    testRunner: 'command',
    // --fail-fast: a mutant is killed by its first failing test; the rest need not run.
    commandRunner: { command: ['node_modules/.bin/ava', '--fail-fast', ...target.tests, ...match].join(' ') },
    mutate: [target.file],
    checkers: ['typescript'],
    tsconfigFile: 'tsconfig.json',
    coverageAnalysis: 'off',
    concurrency,
    plugins: ['@stryker-mutator/*', './scripts/mutate/ignore-message-text.mjs'],
    ignorers: ['message-text'],
    reporters: ['json', 'progress-append-only'],
    jsonReporter: { fileName: report },
    // A mutant that makes a test hang is detected (Timeout) after the clean run's time × 1.5 + 30 s.
    timeoutMS: 30_000,
    timeoutFactor: 1.5,
    // The copy is ours alone: mutate it in place (its node_modules link then serves the tests too).
    inPlace: true,
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
    logLevel: 'warn',
    fileLogLevel: 'off',
  };
}

function runStryker(configFile: string): Promise<number> {
  return new Promise((resolveRun, reject) => {
    running = spawn(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', configFile], { cwd: work, stdio: 'inherit', detached: true });
    running.once('error', reject);
    running.once('close', (code) => {
      running = null;
      resolveRun(code ?? 1);
    });
  });
}

const started = Date.now();
console.log(`mutate: copied ${copyTree()} files to ${work}; ${chosen.length} file(s), concurrency ${concurrency}`);
const results: FileResult[] = [];
for (const [i, target] of chosen.entries()) {
  const configFile = join(work, `stryker.mutate-${i}.json`);
  const report = `reports/mutate-${i}.json`;
  writeFileSync(configFile, JSON.stringify(strykerConfig(target, report), null, 2));
  console.log(`\nmutate: ${target.file} against ${target.tests.join(', ')}${target.match ? ` (${target.match.length} title patterns)` : ''}`);
  const fileStarted = Date.now();
  const code = await runStryker(configFile);
  const seconds = (Date.now() - fileStarted) / 1000;
  if (code !== 0 || !existsSync(join(work, report))) {
    console.error(`mutate: Stryker failed on ${target.file} (exit ${code}); is the clean test run green?`);
    results.push({ file: target.file, seconds, failed: true, counts: {}, survivors: [] });
    continue;
  }
  const result = summarize(target.file, JSON.parse(readFileSync(join(work, report), 'utf8')) as StrykerReport, seconds);
  results.push(result);
  printSummary([result], seconds); // each file's result as soon as it is known
}
const unexplained = printSummary(results, (Date.now() - started) / 1000);
if (markdown) printMarkdown(results, (Date.now() - started) / 1000);
process.exitCode = unexplained > 0 || results.some((r) => r.failed) ? 1 : 0;
