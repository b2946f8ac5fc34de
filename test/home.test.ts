/** Home: the default files under one directory, single files moved elsewhere, and a home that must not make a key. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CurvetunError } from '../lib/errors.js';
import { Home } from '../lib/home.js';

function dir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'curvetun-home-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('a home makes its key pair and known_hosts on first use, under its directory', async (t) => {
  const home = new Home({ home: join(dir(t), 'h') });
  t.teardown(() => home.stop());
  const vault = await home.vault();
  await (await home.registry()).list();
  t.is(vault.publicKey.length, 32);
  for (const file of ['id_curvetun', 'id_curvetun.pub', 'known_hosts']) t.true(existsSync(join(home.home, file)), file);
});

test('keyFile and knownHostsFile put single files elsewhere; createKey: false refuses to make a key (EKEY)', async (t) => {
  const d = dir(t);
  const home = new Home({ home: join(d, 'h'), keyFile: join(d, 'keys', 'me'), knownHostsFile: join(d, 'reg', 'hosts'), createKey: false });
  t.teardown(() => home.stop());
  const error = await t.throwsAsync(home.vault());
  t.true(error instanceof CurvetunError && error.code === 'EKEY', String(error));
  t.false(existsSync(join(d, 'keys', 'me')), 'no key was made');
  await (await home.registry()).list();
  t.true(existsSync(join(d, 'reg', 'hosts')));
  t.false(existsSync(join(d, 'h')), 'nothing in the home directory itself');
  const maker = new Home({ keyFile: join(d, 'keys', 'me') });
  t.teardown(() => maker.stop());
  t.is((await maker.vault()).publicKey.length, 32);
  t.true(existsSync(join(d, 'keys', 'me.pub')));
});
