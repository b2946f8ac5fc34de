/** `curvetun registry add|remove|list` over the known_hosts file. */
import { encodePublicKeyText, KEY_TYPE } from '../../../lib/keys/text.js';
import { UsageError } from '../args.js';
import type { Parsed } from '../args.js';
import { Context, readKeyArgument } from '../context.js';
import type { Io } from '../io.js';

export async function registry(parsed: Parsed, io: Io): Promise<number> {
  const [action, who, key, ...extra] = parsed.positionals;
  if (extra.length > 0) throw new UsageError(`registry ${action}: unexpected argument "${extra[0]}"`);
  const ctx = new Context(parsed, io.env);
  try {
    switch (action) {
      case 'add': {
        if (!who || !key) throw new UsageError('usage: curvetun registry add [--v1] WHO KEY|FILE');
        const publicKey = readKeyArgument(key);
        const v1 = parsed.values.v1 === true;
        await (await ctx.registry()).add({ who, key: publicKey, ...(v1 ? { v1 } : {}) });
        io.err(`added ${v1 ? '@v1 ' : ''}${who} ${encodePublicKeyText(publicKey)} to ${ctx.knownHostsFile}`);
        if (v1) io.err('warning: protocol v1 lets whoever holds the server key impersonate this client (key-compromise impersonation); prefer v2');
        return 0;
      }
      case 'remove': {
        if (!who) throw new UsageError('usage: curvetun registry remove WHO [KEY|FILE]');
        const removed = await (await ctx.registry()).remove(who, key ? readKeyArgument(key) : undefined);
        io.err(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'} for ${who}`);
        return removed > 0 ? 0 : 1;
      }
      case 'list': {
        if (who) throw new UsageError(`registry list: unexpected argument "${who}"`);
        for (const entry of await (await ctx.registry()).list()) {
          io.out(`${entry.v1 ? '@v1 ' : ''}${entry.who} ${KEY_TYPE} ${encodePublicKeyText(entry.key)}`);
        }
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
