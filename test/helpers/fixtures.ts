/**
 * Real parties for end-to-end tests: a server and clients, each with its own worker vault and key
 * file in a temp directory, a registry file that lists who may connect, and cleanup.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CurvetunError, listen } from '../../lib/index.js';
import type { ListenOptions, Listener } from '../../lib/index.js';
import { encodePublicKeyText } from '../../lib/keys/text.js';
import { openRegistry } from '../../lib/registry/index.js';
import type { Registry } from '../../lib/registry/types.js';
import { WorkerVault } from '../../lib/vault/index.js';
import type { Vault } from '../../lib/vault/types.js';

export interface World {
  dir: string;
  serverVault: Vault;
  clientVault: Vault;
  registry: Registry;
  /** Every vault, registry and listener made through this world, closed by `dispose`. */
  dispose(): Promise<void>;
  newVault(name: string): Promise<Vault>;
  /** Another registry (empty file `name` in the world's directory), closed by `dispose`. */
  newRegistry(name: string): Promise<Registry>;
  listen(options?: ListenOptions): Promise<Listener>;
}

export async function makeWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'curvetun-test-'));
  const closers: (() => Promise<void>)[] = [];
  const newVault = async (name: string) => {
    const vault = await WorkerVault.open({ secretKeyFile: join(dir, `${name}.key`), create: true });
    closers.push(() => vault.close());
    return vault;
  };
  const serverVault = await newVault('server');
  const clientVault = await newVault('client');
  const registry = await openRegistry({ file: join(dir, 'known_hosts'), create: true });
  closers.push(() => registry.close());
  // @v1: the v1 tests connect with this key too (unmarked lines allow v2 only).
  await registry.add({ who: '127.0.0.1', key: clientVault.publicKey, v1: true });
  const newRegistry = async (name: string) => {
    const r = await openRegistry({ file: join(dir, name), create: true });
    closers.push(() => r.close());
    return r;
  };
  return {
    dir,
    serverVault,
    clientVault,
    registry,
    newVault,
    newRegistry,
    async listen(options = {}) {
      const listener = await listen(0, { vault: serverVault, registry, ...options });
      closers.push(() => listener.close());
      return listener;
    },
    async dispose() {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function keyText(key: Uint8Array): string {
  return encodePublicKeyText(key);
}

/** The CurvetunError `p` rejects with (anything else, or no rejection at all, fails the test). */
export async function failure(p: Promise<unknown>): Promise<CurvetunError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof CurvetunError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

/** Resolves with the event's arguments, or rejects after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Echo every message on every connection the listener accepts, until it closes. */
export async function echoServer(listener: Listener): Promise<void> {
  for await (const socket of listener) {
    void (async () => {
      try {
        for await (const message of socket) await socket.send(message);
      } catch {
        // this connection failed; the listener goes on
      }
    })();
  }
}
