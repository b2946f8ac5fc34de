/**
 * The unit files of docs/systemd.md parse: `systemd-analyze verify` accepts each without a warning.
 * The only change made to them is the path of `curvetun` (verify requires an executable there):
 * here a stand-in script. Skipped, with the reason, where systemd-analyze is not installed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT } from './cli-process.js';

const doc = readFileSync(join(ROOT, 'docs', 'systemd.md'), 'utf8');
const units = [...doc.matchAll(/<!-- unit: (\S+) -->\n```ini\n([\s\S]*?)\n```/g)].map(([, name, text]) => ({ name: name!, text: text! }));
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const available = analyze.status === 0;

test('docs/systemd.md has a unit for serve and one for tunnel, with the options it promises', (t) => {
  t.deepEqual(units.map((u) => u.name), ['curvetun-serve.service', 'curvetun-tunnel.service']);
  for (const { name, text } of units) {
    for (const line of ['User=curvetun', 'StateDirectory=curvetun', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'Restart=on-failure', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillSignal=SIGTERM']) {
      t.true(text.split('\n').includes(line), `${name} lacks ${line}`);
    }
    const command = name.includes('serve') ? ' serve ' : ' tunnel ';
    t.regex(text, new RegExp(`^ExecStart=/usr/local/bin/curvetun${command}--home \\$\\{STATE_DIRECTORY\\} `, 'm'));
    // The stop timeout leaves room for the default drain (30 s).
    t.true(Number(/^TimeoutStopSec=(\d+)$/m.exec(text)?.[1]) > 30, `${name}: TimeoutStopSec must exceed the drain timeout`);
  }
});

(available ? test : test.skip)('systemd-analyze verify accepts both units without a warning', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-systemd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const standIn = join(dir, 'curvetun');
  writeFileSync(standIn, '#!/bin/sh\nexit 0\n');
  chmodSync(standIn, 0o755);
  for (const { name, text } of units) {
    const file = join(dir, name);
    writeFileSync(file, `${text.replaceAll('/usr/local/bin/curvetun', standIn)}\n`);
    const result = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60_000 });
    t.is(result.status, 0, `${name}: ${result.stderr}`);
    // Unknown keys and bad values are only warnings for verify: none is allowed.
    t.is(result.stderr.trim(), '', `${name}: ${result.stderr}`);
  }
});

if (!available) test('systemd-analyze is not installed: unit verification skipped', (t) => t.pass());
