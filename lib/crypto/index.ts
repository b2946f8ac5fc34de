/**
 * Choosing a crypto backend. 'auto' takes the fastest that works here: libsodium (sodium-native,
 * if installed), else node:crypto X25519, else plain tweetnacl. `$CURVETUN_CRYPTO` overrides 'auto'.
 */
import { CurvetunError } from '../errors.js';
import type { CryptoBackend } from './backend.js';
import { createNodeBackend, nodeX25519Works } from './node.js';
import { createSodiumBackend, loadSodium } from './sodium.js';
import { createTweetnaclBackend } from './tweetnacl.js';

export type BackendName = 'tweetnacl' | 'node' | 'sodium';
export type BackendChoice = BackendName | 'auto';

const made = new Map<BackendName, CryptoBackend>();
let available: BackendName[] | undefined;

/** The backends that work on this machine, fastest first (probed once). */
export function availableBackends(): BackendName[] {
  if (!available) {
    available = [];
    if (loadSodium()) available.push('sodium');
    if (nodeX25519Works()) available.push('node');
    available.push('tweetnacl');
  }
  return [...available];
}

/**
 * A backend by name. Throws `EINVAL` for an unknown name or one that is not available here.
 * @example getBackend('tweetnacl').keyPair()
 */
export function getBackend(choice: BackendChoice = 'auto'): CryptoBackend {
  let name: string = choice;
  if (choice === 'auto') name = process.env.CURVETUN_CRYPTO || availableBackends()[0]!;
  if (name === 'auto') name = availableBackends()[0]!;
  const cached = made.get(name as BackendName);
  if (cached) return cached;
  let backend: CryptoBackend;
  switch (name) {
    case 'tweetnacl':
      backend = createTweetnaclBackend();
      break;
    case 'node':
      if (!availableBackends().includes('node')) throw new CurvetunError('EINVAL', "crypto backend 'node' is not available: no X25519 in node:crypto");
      backend = createNodeBackend();
      break;
    case 'sodium': {
      const sodium = loadSodium();
      if (!sodium) throw new CurvetunError('EINVAL', "crypto backend 'sodium' is not available: install the optional dependency sodium-native");
      backend = createSodiumBackend(sodium);
      break;
    }
    default:
      throw new CurvetunError('EINVAL', `unknown crypto backend '${name}' (use auto, tweetnacl, node or sodium)`);
  }
  made.set(name as BackendName, backend);
  return backend;
}

export type { CryptoBackend, KeyPair } from './backend.js';
