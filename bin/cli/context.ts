/**
 * Where a command finds its identity and registry: a `Home` (lib/home.ts) over `--home DIR`
 * (default `$CURVETUN_HOME` or `~/.curvetun`), with `--key` and `--known-hosts` overriding single
 * files. A command never makes a key pair on the side: that is `keygen`'s job.
 */
import { existsSync, readFileSync } from 'node:fs';
import { CurvetunError } from '../../lib/errors.js';
import { strictModesFromEnv } from '../../lib/fs/strict-modes.js';
import { Home } from '../../lib/home.js';
import { parsePublicKeyLine } from '../../lib/keys/keyfile.js';
import type { WorkerRegistry } from '../../lib/registry/index.js';
import type { WorkerVault } from '../../lib/vault/index.js';
import type { Parsed } from './args.js';

export class Context extends Home {
  readonly verbose: boolean;

  /**
   * `logRegistryProblems: false` when the command logs the registry's 'problem' events itself
   * (the registry worker would otherwise write them to stderr in its own format).
   */
  constructor(parsed: Parsed, env: NodeJS.ProcessEnv = process.env, options: { logRegistryProblems?: boolean; instance?: number } = {}) {
    const v = parsed.values;
    super({
      ...(typeof v.home === 'string' ? { home: v.home } : env.CURVETUN_HOME ? { home: env.CURVETUN_HOME } : {}),
      ...(typeof v.key === 'string' ? { keyFile: v.key } : {}),
      ...(typeof v['known-hosts'] === 'string' ? { knownHostsFile: v['known-hosts'] } : {}),
      createKey: false,
      strictModes: strictModesFromEnv(env),
      ...options,
    });
    this.verbose = v.verbose === true;
  }

  /** The vault over the existing key file, or EKEY with the command that makes one. */
  override vault(): Promise<WorkerVault> {
    if (!existsSync(this.keyFile)) {
      return Promise.reject(new CurvetunError('EKEY', `no secret key file at ${this.keyFile} (run: curvetun keygen)`));
    }
    return super.vault();
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

  /**
   * What a client command passes to connect() for the server's key: `--server-key` as given, else
   * the registry itself, so each connect looks the key up with the addresses it actually dials
   * (`serverKey()` has already failed early if the registry has no key for the host at all).
   */
  async serverKeySource(option: unknown, key: Uint8Array): Promise<{ serverKey: Uint8Array } | { registry: WorkerRegistry }> {
    return typeof option === 'string' ? { serverKey: key } : { registry: await this.registry() };
  }

  /** Stop the workers this command started. */
  close(): Promise<void> {
    return this.stop();
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
