/**
 * `curvetun registry add|remove|list` over the known_hosts file. Lines are shown with their key's
 * fingerprint and comment; `remove` takes a host pattern, a key or a fingerprint.
 */
import { fingerprint, isFingerprint } from '../../../lib/keys/fingerprint.js';
import { KEY_TYPE, encodePublicKeyText, keysEqual } from '../../../lib/keys/text.js';
import type { RegistryEntry } from '../../../lib/registry/index.js';
import { UsageError } from '../args.js';
import type { Parsed } from '../args.js';
import { Context, readKeyArgument } from '../context.js';
import type { Io } from '../io.js';

/** One entry as `list` shows it: `WHO SHA256:… curvetun-x25519 <base64> [comment]`. */
function shown(entry: RegistryEntry): string {
  const comment = entry.comment ? ` ${entry.comment}` : '';
  return `${entry.v1 ? '@v1 ' : ''}${entry.who} ${fingerprint(entry.key)} ${KEY_TYPE} ${encodePublicKeyText(entry.key)}${comment}`;
}

/** What `remove`'s first argument names: a fingerprint, a key (base64 or a pasted .pub line), else a host pattern. */
function removalTarget(text: string): { fingerprint: string } | { key: Uint8Array } | { who: string } {
  if (isFingerprint(text)) return { fingerprint: text };
  if (/^[A-Za-z0-9+/]{43}=$/.test(text) || text.startsWith(`${KEY_TYPE} `)) return { key: readKeyArgument(text).key };
  return { who: text };
}

export async function registry(parsed: Parsed, io: Io): Promise<number> {
  const [action, first, second, ...extra] = parsed.positionals;
  if (extra.length > 0) throw new UsageError(`registry ${action}: unexpected argument "${extra[0]}"`);
  const ctx = new Context(parsed, io.env);
  try {
    switch (action) {
      case 'add': {
        if (!first || !second) throw new UsageError('usage: curvetun registry add [--v1] WHO KEY|FILE [--comment TEXT]');
        const { key, comment } = readKeyArgument(second);
        const text = typeof parsed.values.comment === 'string' ? parsed.values.comment : comment;
        const v1 = parsed.values.v1 === true;
        const added = await (await ctx.registry()).add({ who: first, key, ...(v1 ? { v1 } : {}) }, text || undefined);
        const entry = `${v1 ? '@v1 ' : ''}${first} ${fingerprint(key)}${text ? ` (${text})` : ''}`;
        io.err(added ? `added ${entry} to ${ctx.knownHostsFile}` : `${entry} is already in ${ctx.knownHostsFile}: nothing changed`);
        if (v1) io.err('warning: protocol v1 lets whoever holds the server key impersonate this client (key-compromise impersonation); prefer v2');
        return 0;
      }
      case 'remove': {
        if (!first) throw new UsageError('usage: curvetun registry remove WHO [KEY|FILE] | KEY | FINGERPRINT');
        const reg = await ctx.registry();
        const target = removalTarget(first);
        let removed: RegistryEntry[];
        if ('who' in target) {
          const key = second ? readKeyArgument(second).key : undefined;
          removed = (await reg.list()).filter((e) => e.who === target.who.trim() && (!key || keysEqual(e.key, key)));
          if (removed.length > 0) await reg.remove(target.who, key);
        } else {
          if (second) throw new UsageError(`registry remove: a key or fingerprint needs no second argument, got "${second}"`);
          const matches = (e: RegistryEntry) => ('fingerprint' in target ? fingerprint(e.key) === target.fingerprint : keysEqual(e.key, target.key));
          removed = (await reg.list()).filter(matches);
          // Line by line (pattern and key), so a line added meanwhile for another key stays.
          for (const entry of removed) await reg.remove(entry.who, entry.key);
        }
        for (const entry of removed) io.err(`removed ${entry.who} ${fingerprint(entry.key)}${entry.comment ? ` (${entry.comment})` : ''}`);
        if (removed.length === 0) {
          io.err(`nothing in ${ctx.knownHostsFile} matches ${first}${second ? ` ${second}` : ''}`);
          return 1;
        }
        return 0;
      }
      case 'list': {
        if (first) throw new UsageError(`registry list: unexpected argument "${first}"`);
        for (const entry of await (await ctx.registry()).list()) io.out(shown(entry));
        return 0;
      }
      case undefined:
        throw new UsageError('registry needs an action: add, remove or list');
      default:
        throw new UsageError(`unknown registry action "${action}" (add, remove, list)`);
    }
  } finally {
    await ctx.close();
  }
}
