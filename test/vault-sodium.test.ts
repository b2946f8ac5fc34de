/** SodiumVault's promise beyond the contract: the secret key is unreadable between uses. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SodiumVault } from '../lib/vault/index.js';

const dir = mkdtempSync(join(tmpdir(), 'curvetun-sodium-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const run = (mode: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/sodium-peek.ts', join(dir, 'id'), mode], { encoding: 'utf8', timeout: 30_000 });

if (!SodiumVault.available()) {
  test.skip('SodiumVault: skipped because the optional dependency sodium-native is not installed', () => undefined);
} else {
  test('the key memory is no-access between uses: reading it kills the process, using the vault does not', (t) => {
    const used = run('use');
    t.is(used.status, 0, used.stderr);
    t.is(used.stdout, 'sealed 19\n');
    const peeked = run('peek');
    t.true(peeked.signal === 'SIGSEGV' || peeked.signal === 'SIGBUS', `expected a memory fault, got status ${peeked.status} signal ${peeked.signal}`);
    t.is(peeked.stdout, 'sealed 19\n', 'no byte of the key was printed');
  });
}
