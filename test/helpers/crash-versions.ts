/** Deterministic key material per version number, shared by the crash writer and its checker. */
import { createHash } from 'node:crypto';
import type { SecretKeyMaterial } from '../../lib/keys/keyfile.js';

function digest(label: string, version: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`${label}:${version}`).digest());
}

export function versionKeys(version: number): { material: SecretKeyMaterial; publicKey: Uint8Array } {
  return {
    material: { secretKey: digest('secret', version), scrambleKey: digest('scramble', version), comment: `v${version}` },
    publicKey: digest('public', version),
  };
}
