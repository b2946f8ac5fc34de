/**
 * Child process for test/crash-disk.test.ts: writes key files, a nonce-counter reservation and
 * registry entries in a tight loop, through the project's real code paths, until it is SIGKILLed.
 * Version `v` of everything is derived from `v`, so the parent can tell which version it finds.
 *
 * Usage: node --import tsx test/helpers/crash-writer.ts <dir> <firstVersion> worker|direct
 * `worker` adds registry entries through the real registry worker; `direct` makes the same edit
 * (read, append one formatted line, writeFileAtomic) in this thread, to skip the worker's ~1.5 s
 * start-up on most iterations.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/fs/atomic.js';
import { saveKeyFiles } from '../../lib/keys/keyfile.js';
import { formatRegistryLine, openRegistry } from '../../lib/registry/index.js';
import { REGISTRY_HEADER } from '../../lib/registry/file.js';
import { FileCounter } from '../../lib/vault/counter.js';
import { versionKeys } from './crash-versions.js';

const dir = process.argv[2]!;
let version = Number(process.argv[3]);
const mode = process.argv[4] === 'worker' ? 'worker' : 'direct';
const file = join(dir, 'known_hosts');

let addHost: (who: string, key: Uint8Array) => Promise<void>;
if (mode === 'worker') {
  const registry = await openRegistry({ file, create: true });
  addHost = async (who, key) => void (await registry.add({ who, key }));
} else {
  if (!existsSync(file)) writeFileAtomic(file, REGISTRY_HEADER, 0o644);
  addHost = async (who, key) => {
    const current = readFileSync(file, 'utf8');
    writeFileAtomic(file, `${current.replace(/\n$/, '')}\n${formatRegistryLine(who, key)}\n`, 0o644);
  };
}
// Block 1: every counter handed out writes a new reservation, so the file is rewritten constantly.
const counter = new FileCounter(join(dir, 'counter'), 1);
process.stdout.write('ready\n');
// Bounded: the parent kills us long before this ends.
for (let i = 0; i < 1_000_000; i++) {
  const { material, publicKey } = versionKeys(version);
  saveKeyFiles(join(dir, 'id.key'), material, publicKey);
  await counter.next();
  await addHost(`host${version}.example`, publicKey);
  version++;
}
