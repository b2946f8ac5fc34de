/** Make a new identity, or load the one on disk. */
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { CryptoBackend } from '../crypto/backend.js';
import { createKeyFiles, loadSecretKeyFile, saveKeyFiles } from './keyfile.js';
import type { SecretKeyMaterial } from './keyfile.js';
import { KEY_BYTES } from '../protocol/constants.js';

export interface Identity extends SecretKeyMaterial {
  publicKey: Uint8Array;
}

function defaultComment(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return 'curvetun';
  }
}

/** A fresh key pair and scramble key, in memory. */
export function generateIdentity(backend: CryptoBackend, comment = defaultComment()): Identity {
  const { publicKey, secretKey } = backend.keyPair();
  return { publicKey, secretKey, scrambleKey: backend.randomBytes(KEY_BYTES), comment };
}

/** Generate an identity and write its key files (secret 0600, public 0644). Returns the public key. */
export function generateKeyFiles(secretKeyFile: string, backend: CryptoBackend, comment?: string): Uint8Array {
  const identity = generateIdentity(backend, comment);
  saveKeyFiles(secretKeyFile, identity, identity.publicKey);
  return identity.publicKey;
}

/**
 * Load `secretKeyFile`; with `create`, generate and save it first when it does not exist. Two
 * processes creating it at once agree on one key: the file is created exclusively, and both load it.
 */
export function loadIdentity(secretKeyFile: string, backend: CryptoBackend, create = false): Identity {
  if (create && !existsSync(secretKeyFile)) {
    const fresh = generateIdentity(backend);
    createKeyFiles(secretKeyFile, fresh, fresh.publicKey);
    // Whoever won the race, the key to use is the one on disk, loaded below; drop this copy.
    fresh.secretKey.fill(0);
    fresh.scrambleKey.fill(0);
  }
  const material = loadSecretKeyFile(secretKeyFile);
  return { ...material, publicKey: backend.publicKeyOf(material.secretKey) };
}
