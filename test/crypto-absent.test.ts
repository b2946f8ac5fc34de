/**
 * sodium-native is optional: with it really absent (a copy of lib/crypto whose node_modules holds
 * only tweetnacl), everything still loads, 'auto' falls back to node:crypto, and asking for
 * 'sodium' by name is a typed EINVAL.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

test('without sodium-native: auto picks node, sodium is EINVAL, the NaCl vector still holds', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-nosodium-'));
  try {
    mkdirSync(join(dir, 'lib'));
    mkdirSync(join(dir, 'node_modules'));
    cpSync(join(root, 'lib', 'crypto'), join(dir, 'lib', 'crypto'), { recursive: true });
    cpSync(join(root, 'lib', 'errors.ts'), join(dir, 'lib', 'errors.ts'));
    symlinkSync(dirname(require.resolve('tweetnacl/package.json')), join(dir, 'node_modules', 'tweetnacl'), 'dir');
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(
      join(dir, 'probe.ts'),
      `import { availableBackends, getBackend } from './lib/crypto/index.js';
const out: Record<string, unknown> = { available: availableBackends(), auto: getBackend('auto').name };
try { getBackend('sodium'); out.sodium = 'loaded'; } catch (e) { out.sodium = (e as { code?: string }).code; }
const sk = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
out.pk = Buffer.from(getBackend('auto').publicKeyOf(new Uint8Array(sk))).toString('hex');
process.stdout.write(JSON.stringify(out));
`,
    );
    const tsx = pathToFileURL(require.resolve('tsx')).href;
    const env = { ...process.env };
    delete env.CURVETUN_CRYPTO;
    delete env.NODE_PATH;
    const stdout = execFileSync(process.execPath, ['--import', tsx, join(dir, 'probe.ts')], {
      cwd: dir,
      env,
      timeout: 20_000,
      encoding: 'utf8',
    });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    t.deepEqual(out.available, ['node', 'tweetnacl']);
    t.is(out.auto, 'node');
    t.is(out.sodium, 'EINVAL');
    // Alice's public key from "Cryptography in NaCl" (libsodium test/default/scalarmult.exp).
    t.is(out.pk, '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
