/**
 * examples/cluster-echo-server.ts, the library's node:cluster example, run as written: two workers
 * on one port over one key file, clients echoed by both, a killed worker replaced, SIGTERM ends all.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { connect, encodePublicKeyText } from '../lib/index.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { LocalVault } from '../lib/vault/index.js';
import { within } from './helpers/fixtures.js';

test('the cluster example: two workers share the port and the key, a dead worker is replaced, SIGTERM stops them all', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'curvetun-cluster-'));
  const client = LocalVault.generate({ crypto: 'tweetnacl' });
  t.teardown(async () => {
    await client.close();
    rmSync(home, { recursive: true, force: true });
  });
  writeFileSync(join(home, 'known_hosts'), `127.0.0.1 ${encodePublicKeyText(client.publicKey)}\n`, { mode: 0o644 });
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cluster-echo-server.ts', '--home', home, '--port', '0', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = async (pattern: RegExp, count: number) =>
    within((async () => { while ([...out.matchAll(pattern)].length < count) await new Promise((r) => setTimeout(r, 50)); })(), 300_000, `${count} × ${pattern}: ${out}`);

  await lines(/worker \d listening 127\.0\.0\.1:(\d+)/g, 2);
  const ports = new Set([...out.matchAll(/worker \d listening 127\.0\.0\.1:(\d+)/g)].map((m) => m[1]));
  t.is(ports.size, 1, 'one port for both workers');
  const port = Number([...ports][0]);
  const serverKey = loadPublicKeyFile(join(home, 'id_curvetun.pub'));
  const echo = async (text: string) => {
    const socket = await connect('127.0.0.1', port, { serverKey, vault: client, crypto: 'tweetnacl', timeout: 60_000 });
    await socket.send(text);
    const back = Buffer.from(await socket.recv({ timeout: 60_000 })).toString();
    await socket.close();
    return back;
  };
  for (let i = 0; i < 6; i++) t.is(await echo(`message ${i}`), `message ${i}`);
  const pid = Number(/worker 1 listening \S+ pid (\d+)/.exec(out)![1]);
  process.kill(pid, 'SIGKILL');
  await lines(/worker 1 died \(SIGKILL\); starting another/g, 1);
  await lines(/worker 1 listening/g, 2);
  for (let i = 0; i < 4; i++) t.is(await echo(`after ${i}`), `after ${i}`);
  child.kill('SIGTERM');
  t.is(await within(exited, 120_000, 'the primary exiting'), 0);
});
