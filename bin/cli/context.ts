/**
 * Where a command finds its identity and registry: `--home DIR` (default `$CURVETUN_HOME` or
 * `~/.curvetun`) holds `id_curvetun`, `id_curvetun.pub` and `known_hosts`; `--key` and
 * `--known-hosts` override single files. Opens the vault and registry workers on demand.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CurvetunError } from '../../lib/errors.js';
import { parsePublicKeyLine } from '../../lib/keys/keyfile.js';
import { openRegistry } from '../../lib/registry/index.js';
import type { WorkerRegistry } from '../../lib/registry/index.js';
import { WorkerVault } from '../../lib/vault/index.js';
import type { Parsed } from './args.js';

export class Context {
  readonly home: string;
  readonly keyFile: string;
  readonly knownHostsFile: string;
  readonly verbose: boolean;
  private vaultPromise: Promise<WorkerVault> | null = null;
  private registryPromise: Promise<WorkerRegistry> | null = null;

  /**
   * `logRegistryProblems: false` when the command logs the registry's 'problem' events itself
   * (the registry worker would otherwise write them to stderr in its own format).
   */
  constructor(
    parsed: Parsed,
    env: NodeJS.ProcessEnv = process.env,
    private readonly options: { logRegistryProblems?: boolean } = {},
  ) {
    const v = parsed.values;
    this.home = typeof v.home === 'string' ? v.home : env.CURVETUN_HOME ?? join(homedir(), '.curvetun');
    this.keyFile = typeof v.key === 'string' ? v.key : join(this.home, 'id_curvetun');
    this.knownHostsFile = typeof v['known-hosts'] === 'string' ? v['known-hosts'] : join(this.home, 'known_hosts');
    this.verbose = v.verbose === true;
  }

  /** The vault over the existing key file (never creates one: that is `keygen`'s job). */
  vault(): Promise<WorkerVault> {
    this.vaultPromise ??= (async () => {
      if (!existsSync(this.keyFile)) {
        throw new CurvetunError('EKEY', `no secret key file at ${this.keyFile} (run: curvetun keygen)`);
      }
      return WorkerVault.open({ secretKeyFile: this.keyFile, create: false });
    })();
    return this.vaultPromise;
  }

  /** The known_hosts registry (an empty file is created, with its directory, when missing). */
  registry(): Promise<WorkerRegistry> {
    this.registryPromise ??= (async () => {
      mkdirSync(dirname(this.knownHostsFile), { recursive: true, mode: 0o700 });
      return openRegistry({ file: this.knownHostsFile, create: true, logProblems: this.options.logRegistryProblems ?? true });
    })();
    return this.registryPromise;
  }

  /**
   * The server's key for a client command: `--server-key` (base64 or a `.pub` file), else the
   * registry's entry for `host`.
   */
  async serverKey(option: unknown, host: string): Promise<Uint8Array> {
    if (typeof option === 'string') return readKeyArgument(option).key;
    const key = await (await this.registry()).lookup(host);
    if (!key) {
      throw new CurvetunError('EKEY', `no key for ${host} in ${this.knownHostsFile}: pass --server-key or run: curvetun registry add ${host} <key>`);
    }
    return key;
  }

  /** Stop the workers this command started. */
  async close(): Promise<void> {
    const closing = [this.vaultPromise, this.registryPromise].map((p) => p?.then((x) => x.close()).catch(() => undefined));
    await Promise.all(closing);
  }
}

/**
 * A public key given on the command line: a `.pub` file's path, a pasted `.pub` line
 * (`curvetun-x25519 <base64> comment`), or bare base64; with the comment it carried, if any.
 */
export function readKeyArgument(text: string): { key: Uint8Array; comment: string } {
  if (existsSync(text)) {
    const line = readFileSync(text, 'utf8');
    if (line.startsWith('-----BEGIN')) throw new CurvetunError('EKEY', `${text} is a secret key file: give its .pub file`);
    const { publicKey, comment } = parsePublicKeyLine(line, text);
    return { key: publicKey, comment };
  }
  const looksLikePath = /^[./~]|\.pub$/.test(text) && !/\s/.test(text);
  const { publicKey, comment } = parsePublicKeyLine(text, looksLikePath ? `${text}: no such file, and as a key` : 'the key argument');
  return { key: publicKey, comment };
}
