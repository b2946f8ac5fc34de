/**
 * Crash safety on disk (issue 7, part 5): a child process rewrites the secret/public key files,
 * the nonce-counter reservation and the registry as fast as it can and is SIGKILLed at a random
 * moment, 50 times. Every file must afterwards be exactly the old or a new version, never torn.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { parsePublicKeyLine, parseSecretKeyFile } from '../lib/keys/keyfile.js';
import { encodePublicKeyText } from '../lib/keys/text.js';
import { parseRegistry } from '../lib/registry/index.js';
import { FileCounter } from '../lib/vault/counter.js';
import { versionKeys } from './helpers/crash-versions.js';

const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 50);
const STRIDE = 1_000_000;

/** Start the writer, let it write for `ms` after it is ready, SIGKILL it. */
async function writeAndKill(dir: string, firstVersion: number, ms: number, mode: 'worker' | 'direct'): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/crash-writer.ts', dir, String(firstVersion), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready`)));
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  child.kill('SIGKILL');
  if ((await exited) !== 'SIGKILL') throw new Error('the writer was not killed by SIGKILL');
}

/** Which version the key files hold; throws if they are torn or do not match one version. */
function keyVersion(dir: string): { secret: number; pub: number; mode: number } {
  const secretFile = join(dir, 'id.key');
  // Killed before the very first write: the "old version" is no file at all (version 0).
  if (!existsSync(secretFile)) return { secret: 0, pub: existsSync(`${secretFile}.pub`) ? -1 : 0, mode: 0o600 };
  if (!existsSync(`${secretFile}.pub`)) {
    const only = parseSecretKeyFile(readFileSync(secretFile, 'utf8'), secretFile);
    return { secret: Number(only.comment.slice(1)), pub: 0, mode: statSync(secretFile).mode & 0o777 };
  }
  const material = parseSecretKeyFile(readFileSync(secretFile, 'utf8'), secretFile);
  const secret = Number(material.comment.slice(1));
  const expected = versionKeys(secret).material;
  if (!Buffer.from(material.secretKey).equals(expected.secretKey) || !Buffer.from(material.scrambleKey).equals(expected.scrambleKey)) {
    throw new Error(`secret key file claims v${secret} but holds other bytes`);
  }
  const pubLine = parsePublicKeyLine(readFileSync(`${secretFile}.pub`, 'utf8'), `${secretFile}.pub`);
  const pub = Number(pubLine.comment.slice(1));
  if (!Buffer.from(pubLine.publicKey).equals(versionKeys(pub).publicKey)) throw new Error(`public key file claims v${pub} but holds another key`);
  return { secret, pub, mode: statSync(secretFile).mode & 0o777 };
}

/** One lane: its own directory, `iterations` kills in a row, every file checked after each. */
async function lane(t: ExecutionContext, iterations: number, laneNo: number): Promise<{ kills: number; hosts: number; counter: number; tempLeft: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-crash-'));
  try {
    let lastSecret = 0;
    let lastPub = 0;
    let lastCounter = 0;
    let hosts: string[] = [];
    let killedMidWrite = 0;
    for (let i = 1; i <= iterations; i++) {
      const first = i * STRIDE;
      // Every fifth run edits the registry through the real registry worker.
      await writeAndKill(dir, first, 20 + ((i * 37 + laneNo * 53) % 200), i % 5 === 0 ? 'worker' : 'direct');
      // Key files: one whole version each, old (the last one seen) or one this child wrote.
      const keys = keyVersion(dir);
      const isNew = (v: number) => v >= first && v < first + STRIDE;
      t.true(keys.secret === lastSecret || isNew(keys.secret), `secret key version v${keys.secret} is neither old nor new`);
      t.true(keys.pub === lastPub || isNew(keys.pub), `public key version v${keys.pub} is neither old nor new`);
      // The public file is written right after the secret one: it may lag by one version only.
      t.true(keys.pub === keys.secret || keys.pub === keys.secret - 1 || keys.pub === lastPub);
      t.is(keys.mode, 0o600);
      lastSecret = keys.secret;
      lastPub = keys.pub;

      // Counter reservation: readable (FileCounter refuses a corrupt file) and never going back.
      const counter = FileCounter.read(join(dir, 'counter'));
      t.true(counter >= lastCounter, `the counter reservation went back from ${lastCounter} to ${counter}`);
      lastCounter = counter;

      // Registry: parses, keeps every entry it had, and adds only whole new ones in order.
      const file = join(dir, 'known_hosts');
      const entries = parseRegistry(readFileSync(file, 'utf8'), file);
      const who = entries.map((e) => e.who);
      t.deepEqual(who.slice(0, hosts.length), hosts, 'the registry lost or changed old entries');
      for (const e of entries.slice(hosts.length)) {
        const v = Number(e.who.slice(4, -'.example'.length));
        t.true(v >= first && v < first + STRIDE);
        t.is(encodePublicKeyText(e.key), encodePublicKeyText(versionKeys(v).publicKey));
      }
      hosts = who;
      if (readdirSync(dir).some((f) => f.endsWith('.tmp'))) killedMidWrite++;
    }
    return { kills: iterations, hosts: hosts.length, counter: lastCounter, tempLeft: killedMidWrite };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('SIGKILL while writing keys, counters and registry entries, 50 times: every file is old or new, never torn', async (t) => {
  t.timeout(170_000);
  // Two lanes at once: each kill costs a process start-up (~1 s), and the machine has 2 cores.
  const lanes = await Promise.all([lane(t, Math.ceil(ITERATIONS / 2), 0), lane(t, Math.floor(ITERATIONS / 2), 1)]);
  for (const l of lanes) {
    t.log(`${l.kills} kills: counter reservation ${l.counter}, ${l.hosts} registry entries; ${l.tempLeft} kills left a temp file behind (the target stayed whole)`);
    t.true(l.hosts > 0 && l.counter > 0, 'the writer got to write before being killed');
  }
  t.is(lanes[0]!.kills + lanes[1]!.kills, ITERATIONS);
});
