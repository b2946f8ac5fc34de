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
import { handshakeScript } from './helpers/handshake-script.js';

test('the compiled dist/ works with plain node and exits by itself', (t) => {
  t.timeout(120_000);
  const out = mkdtempSync(join(tmpdir(), 'curvetun-dist-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  execFileSync(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out], { stdio: 'pipe' });
  symlinkSync(resolve('node_modules'), join(out, 'node_modules'));
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  const script = join(out, 'check.mjs');
  writeFileSync(script, handshakeScript(`import { WorkerVault, openRegistry, listen, connect, fingerprint } from './lib/index.js';`, 'from dist'));
  const result = spawnSync(process.execPath, [script, out], { encoding: 'utf8', timeout: 30_000, execArgv: [] } as never);
  t.is(result.signal, null, 'the process had to be killed');
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.trim(), 'from dist true');
});
