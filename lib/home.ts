/**
 * The curvetun home: the directory of this machine's identity and known hosts, and what
 * `listen()` and `connect()` use when no vault or registry is passed.
 *
 * Everything lives in one directory, `$CURVETUN_HOME` or `~/.curvetun`:
 *   id_curvetun / id_curvetun.pub   the long-term key pair (made on first use, secret file 0600)
 *   known_hosts                     the registry
 * The vault and registry workers start on first use and are shared by every socket of the process.
 * Workers are unref'd, so a program that is done exits without calling `stopDefaultHome()`.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { strictModesFromEnv } from './fs/strict-modes.js';
import { INSPECT, describe } from './inspect.js';
import { openRegistry } from './registry/index.js';
import type { WorkerRegistry } from './registry/index.js';
import { WorkerVault } from './vault/index.js';

export interface HomeOptions {
  /** Directory holding the key pair and known_hosts. Default `$CURVETUN_HOME` or `~/.curvetun`. */
  home?: string;
  /** The secret key file, when it is not `<home>/id_curvetun` (its public half is `<file>.pub`). */
  keyFile?: string;
  /** The registry file, when it is not `<home>/known_hosts`. */
  knownHostsFile?: string;
  /** Make the key pair when the key file is missing (default true); false: `vault()` fails with `EKEY`. */
  createKey?: boolean;
  /** This copy's instance number for the vault (`FileVaultOptions.instance`); default: the stored one, else 0. */
  instance?: number;
  /** Warn on stderr when a changed known_hosts is refused (default true; the registry's `'problem'` event says it either way). */
  logRegistryProblems?: boolean;
  /**
   * Refuse a known_hosts that others could write (see `OpenRegistryOptions.strictModes`).
   * Default true, or false when `$CURVETUN_STRICT_MODES` is `0`, `no`, `off` or `false`.
   */
  strictModes?: boolean;
}

/**
 * A home directory's vault and registry, each started on first use.
 *
 * @example
 * const home = new Home({ home: '/etc/curvetun' });
 * const listener = await listen(7000, { vault: await home.vault(), registry: await home.registry() });
 */
export class Home {
  readonly home: string;
  readonly keyFile: string;
  readonly knownHostsFile: string;
  readonly strictModes: boolean;
  private vaultPromise: Promise<WorkerVault> | null = null;
  private registryPromise: Promise<WorkerRegistry> | null = null;

  constructor(private readonly options: HomeOptions = {}) {
    this.home = options.home ?? process.env.CURVETUN_HOME ?? join(homedir(), '.curvetun');
    this.keyFile = options.keyFile ?? join(this.home, 'id_curvetun');
    this.knownHostsFile = options.knownHostsFile ?? join(this.home, 'known_hosts');
    this.strictModes = options.strictModes ?? strictModesFromEnv();
  }

  /** Facts only: the vault and registry it holds are handles to workers (and their shared memory). */
  [INSPECT](): string {
    return describe('Home', { home: this.home, keyFile: this.keyFile, knownHostsFile: this.knownHostsFile, strictModes: this.strictModes, vault: this.vaultPromise !== null, registry: this.registryPromise !== null });
  }

  /** The vault holding `id_curvetun` (generated on first use unless `createKey: false`). */
  vault(): Promise<WorkerVault> {
    this.vaultPromise ??= (async () => {
      const create = this.options.createKey ?? true;
      if (create) mkdirSync(dirname(this.keyFile), { recursive: true, mode: 0o700 });
      return WorkerVault.open({ secretKeyFile: this.keyFile, create, ...(this.options.instance !== undefined ? { instance: this.options.instance } : {}) });
    })();
    return this.vaultPromise;
  }

  /** The registry over `known_hosts` (an empty file is made on first use: nobody is trusted yet). */
  registry(): Promise<WorkerRegistry> {
    this.registryPromise ??= (async () => {
      mkdirSync(dirname(this.knownHostsFile), { recursive: true, mode: 0o700 });
      return openRegistry({ file: this.knownHostsFile, create: true, logProblems: this.options.logRegistryProblems ?? true, strictModes: this.strictModes });
    })();
    const opening = this.registryPromise;
    // A registry that failed to open (e.g. refused for its permissions) is tried again next time.
    opening.catch(() => {
      if (this.registryPromise === opening) this.registryPromise = null;
    });
    return opening;
  }

  /** Stop the workers this home started (one that failed to start is no reason to fail). */
  async stop(): Promise<void> {
    const [vault, registry] = [this.vaultPromise, this.registryPromise];
    this.vaultPromise = this.registryPromise = null;
    // One that failed to start has nothing to stop.
    await Promise.all([vault?.then((v) => v.close(), () => undefined), registry?.then((r) => r.close(), () => undefined)]);
  }
}

let shared: Home | null = null;

/** The process-wide home used for defaults (`$CURVETUN_HOME` or `~/.curvetun`). */
export function defaultHome(): Home {
  shared ??= new Home();
  return shared;
}

/** Stop the process-wide home's workers (optional: they do not keep the process alive). */
export async function stopDefaultHome(): Promise<void> {
  const home = shared;
  shared = null;
  await home?.stop();
}
