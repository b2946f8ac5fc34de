/** `curvetun keygen`, `curvetun pubkey` and `curvetun fingerprint`: only public keys and fingerprints are ever printed. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { getBackend } from '../../../lib/crypto/index.js';
import { CurvetunError } from '../../../lib/errors.js';
import { fingerprint } from '../../../lib/keys/fingerprint.js';
import { generateKeyFiles, loadIdentity } from '../../../lib/keys/generate.js';
import { formatPublicKeyFile, publicKeyFileFor } from '../../../lib/keys/keyfile.js';
import { UsageError } from '../args.js';
import type { Parsed } from '../args.js';
import { Context, readKeyArgument } from '../context.js';
import type { Io } from '../io.js';

export async function keygen(parsed: Parsed, io: Io): Promise<number> {
  if (parsed.positionals.length > 0) throw new UsageError(`keygen takes no arguments, got "${parsed.positionals[0]}"`);
  const ctx = new Context(parsed, io.env);
  if (existsSync(ctx.keyFile) && parsed.values.force !== true) {
    throw new CurvetunError('EKEY', `${ctx.keyFile} already exists; refusing to replace an identity (use --force)`);
  }
  mkdirSync(dirname(ctx.keyFile), { recursive: true, mode: 0o700 });
  const comment = typeof parsed.values.comment === 'string' ? parsed.values.comment : undefined;
  const publicKey = generateKeyFiles(ctx.keyFile, getBackend('auto'), comment);
  io.err(`wrote ${ctx.keyFile} (secret, mode 0600) and ${publicKeyFileFor(ctx.keyFile)}; fingerprint ${fingerprint(publicKey)}`);
  // The .pub line just written, default comment included: ready to paste on the other end.
  io.out(readFileSync(publicKeyFileFor(ctx.keyFile), 'utf8').trimEnd());
  return 0;
}

export async function pubkey(parsed: Parsed, io: Io): Promise<number> {
  if (parsed.positionals.length > 0) throw new UsageError(`pubkey takes no arguments, got "${parsed.positionals[0]}"`);
  const ctx = new Context(parsed, io.env);
  // Derived from the secret file, so a stale or edited .pub cannot mislead.
  const identity = loadIdentity(ctx.keyFile, getBackend('auto'));
  io.out(formatPublicKeyFile(identity.publicKey, identity.comment).trimEnd());
  return 0;
}

/** `fingerprint [FILE|KEY]`: of a .pub file, a pasted .pub line or base64 key; without one, of this identity. */
export async function fingerprintCommand(parsed: Parsed, io: Io): Promise<number> {
  const [what, extra] = parsed.positionals;
  if (extra !== undefined) throw new UsageError(`fingerprint: unexpected argument "${extra}"`);
  if (what === undefined) {
    const ctx = new Context(parsed, io.env);
    const identity = loadIdentity(ctx.keyFile, getBackend('auto'));
    io.out(`${fingerprint(identity.publicKey)}${identity.comment ? ` ${identity.comment}` : ''}`);
    return 0;
  }
  const { key, comment } = readKeyArgument(what);
  io.out(`${fingerprint(key)}${comment ? ` ${comment}` : ''}`);
  return 0;
}
