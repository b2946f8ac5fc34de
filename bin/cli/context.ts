/**
 * Where a command finds its identity and registry: `--home DIR` (default `$CURVETUN_HOME` or
 * `~/.curvetun`) holds `id_curvetun`, `id_curvetun.pub` and `known_hosts`; `--key` and
 * `--known-hosts` override single files. Opens the vault and registry workers on demand.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CurvetunError } from '../../lib/errors.js';
import { strictModesFromEnv } from '../../lib/fs/strict-modes.js';
import { loadPublicKeyFile } from '../../lib/keys/keyfile.js';
import { decodePublicKeyText } from '../../lib/keys/text.js';
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

  constructor(parsed: Parsed, private readonly env: NodeJS.ProcessEnv = process.env) {
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
      return openRegistry({ file: this.knownHostsFile, create: true, strictModes: strictModesFromEnv(this.env) });
    })();
    return this.registryPromise;
  }

  /**
   * The server's key for a client command: `--server-key` (base64 or a `.pub` file), else the
   * registry's entry for `host`.
   */
  async serverKey(option: unknown, host: string): Promise<Uint8Array> {
    if (typeof option === 'string') return readKeyArgument(option);
    const key = await (await this.registry()).lookup(host);
    if (!key) {
      throw new CurvetunError('EKEY', `no key for ${host} in ${this.knownHostsFile}: pass --server-key or run: curvetun registry add ${host} <key>`);
    }
    return key;
  }

  /**
   * What a client command passes to connect() for the server's key: `--server-key` as given, else
   * the registry itself, so each connect looks the key up with the addresses it actually dials
   * (`serverKey()` has already failed early if the registry has no key for the host at all).
   */
  async serverKeySource(option: unknown, key: Uint8Array): Promise<{ serverKey: Uint8Array } | { registry: WorkerRegistry }> {
    return typeof option === 'string' ? { serverKey: key } : { registry: await this.registry() };
  }

  /** Stop the workers this command started. */
  async close(): Promise<void> {
    const closing = [this.vaultPromise, this.registryPromise].map((p) => p?.then((x) => x.close()).catch(() => undefined));
    await Promise.all(closing);
  }
}

/** A public key given on the command line: a key file's path, a `.pub` line, or bare base64. */
export function readKeyArgument(text: string): Uint8Array {
  if (existsSync(text)) return loadPublicKeyFile(text);
  const words = text.trim().split(/\s+/);
  const keyText = words[0] === 'curvetun-x25519' ? words[1] : words[0];
  return decodePublicKeyText(keyText ?? '');
}
