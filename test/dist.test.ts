/**
 * The built package with plain `node` (no tsx): compile to a temp directory, then run a real
 * handshake through it — vault, cookie keeper and registry workers loaded from `.js` files — and
 * check that the program exits by itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';

test('the compiled dist/ works with plain node and exits by itself', (t) => {
  t.timeout(120_000);
  const out = mkdtempSync(join(tmpdir(), 'curvetun-dist-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  execFileSync(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out], { stdio: 'pipe' });
  symlinkSync(resolve('node_modules'), join(out, 'node_modules'));
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  const script = join(out, 'check.mjs');
  writeFileSync(
    script,
    `
import { WorkerVault, openRegistry, listen, connect } from './lib/index.js';
const dir = ${JSON.stringify(out)};
const server = await WorkerVault.open({ secretKeyFile: dir + '/server', create: true });
const client = await WorkerVault.open({ secretKeyFile: dir + '/client', create: true });
const registry = await openRegistry({ file: dir + '/known_hosts', create: true });
await registry.add({ who: '127.0.0.1', key: client.publicKey });
const listener = await listen(0, { vault: server, registry });
const socket = await connect('127.0.0.1', listener.address().port, { vault: client, serverKey: listener.publicKey });
const peer = await listener.accept();
await socket.send('from dist');
console.log(Buffer.from(await peer.recv({ timeout: 5000 })).toString());
await socket.close();
await listener.close();
// No stop() of the workers on purpose: they must not keep the process alive.
`,
  );
  const result = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000, execArgv: [] } as never);
  t.is(result.signal, null, 'the process had to be killed');
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.trim(), 'from dist');
});
