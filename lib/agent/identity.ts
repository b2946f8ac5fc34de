/**
 * How a gateway names an agent in its `expose` rules: the agent's public key (base64, or a `.pub`
 * line `curvetun-x25519 <base64> …`), its fingerprint (`SHA256:…`), or its name, the first word of
 * the comment on its registry line (`* curvetun-x25519 <base64> acme-db`). Fingerprints and names
 * are looked up in the registry once, when the gateway starts.
 */
import { CurvetunError } from '../errors.js';
import { fingerprint, isFingerprint } from '../keys/fingerprint.js';
import { KEY_TYPE, decodePublicKeyText, encodePublicKeyText, quotable } from '../keys/text.js';
import type { Registry } from '../registry/types.js';

/** An agent as a gateway knows it: its key, and how logs name it (fingerprint, and name if any). */
export interface AgentIdentity {
  key: Uint8Array;
  fingerprint: string;
  name?: string;
}

const KEY_TEXT = /^[A-Za-z0-9+/]{43}=$/;

function firstWord(comment: string | undefined): string | undefined {
  return comment?.replace(/^#\s*/, '').trim().split(/\s+/)[0] || undefined;
}

/** The distinct keys among `keys`. */
function distinct(keys: Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const key of keys) seen.set(encodePublicKeyText(key), key);
  return [...seen.values()];
}

/**
 * The agent `spec` names; `EINVAL` when it names no key, or a name that several keys share.
 * @example await resolveAgent('SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU', registry)
 */
export async function resolveAgent(spec: string, registry: Registry | null): Promise<AgentIdentity> {
  const text = spec.trim();
  const entries = registry ? await registry.list() : [];
  // A key may have several lines (one per network); the first that gives a name names it.
  const nameOf = (key: Uint8Array) => entries.filter((e) => fingerprint(e.key) === fingerprint(key)).map((e) => firstWord(e.comment)).find(Boolean);
  const identity = (key: Uint8Array): AgentIdentity => {
    const name = nameOf(key);
    return { key, fingerprint: fingerprint(key), ...(name ? { name } : {}) };
  };
  if (KEY_TEXT.test(text) || text.startsWith(`${KEY_TYPE} `)) {
    const keyText = text.startsWith(`${KEY_TYPE} `) ? text.slice(KEY_TYPE.length).trim().split(/\s+/)[0]! : text;
    return identity(decodePublicKeyText(keyText));
  }
  if (isFingerprint(text)) {
    const keys = distinct(entries.filter((e) => fingerprint(e.key) === text).map((e) => e.key));
    if (keys.length === 0) throw new CurvetunError('EINVAL', `no key in the registry has the fingerprint ${text}`);
    return identity(keys[0]!);
  }
  const keys = distinct(entries.filter((e) => firstWord(e.comment) === text).map((e) => e.key));
  if (keys.length === 0) throw new CurvetunError('EINVAL', `no registry line names the agent "${quotable(text)}" (give its key, its fingerprint or the first word of its line's comment)`);
  if (keys.length > 1) throw new CurvetunError('EINVAL', `${keys.length} different keys in the registry are named "${quotable(text)}": name the agent by fingerprint`);
  return identity(keys[0]!);
}

/** How logs name an agent: its name and fingerprint, or the fingerprint alone. */
export function agentLabel(identity: { fingerprint: string; name?: string }): string {
  return identity.name ? `${identity.name} (${identity.fingerprint})` : identity.fingerprint;
}
