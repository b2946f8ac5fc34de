/**
 * The registry: curvetun's known_hosts. Which client key may connect from where (server side),
 * and which key a server has (client side).
 */

export type Verdict =
  | { allowed: true }
  | { allowed: false; reason: string };

export interface RegistryEntry {
  /** An IP address, a CIDR network, a DNS name, a domain pattern (`.example.com`) or `*`. */
  who: string;
  /** The 32-byte public key, as it appears in the file (base64, see README). */
  key: Uint8Array;
  /** The line's comment, when listing; ignored by `add` (pass the comment as its own argument). */
  comment?: string;
}

export interface Registry {
  /** Server side: may `clientKey` connect from `remoteAddress`? Runs the TOFU hook when configured. */
  verify(remoteAddress: string, clientKey: Uint8Array): Promise<Verdict>;
  /**
   * Server side, for connections already open: does the registry as it stands allow `clientKey`
   * from `remoteAddress`? Never asks a trust-on-first-use hook. A listener calls it for each open
   * connection after a `'reload'` and closes the ones no longer allowed; without it, `verify`.
   */
  check?(remoteAddress: string, clientKey: Uint8Array): Promise<Verdict>;
  /**
   * Client side: the key to expect from `host`, if the registry knows one. `addresses` are the
   * addresses the caller resolved `host` to and will dial; address and network lines are matched
   * against them instead of a lookup of the registry's own (which could answer differently).
   */
  lookup(host: string, addresses?: readonly string[]): Promise<Uint8Array | undefined>;
  /** Resolves true when a line was added, false when a line with this `who` and key was there already. */
  add(entry: RegistryEntry): Promise<boolean>;
  remove(who: string, key?: Uint8Array): Promise<number>;
  list(): Promise<RegistryEntry[]>;
  close(): Promise<void>;
  /**
   * `'reload'`: the entries changed (the file was re-read or lines were removed), so a key may
   * have lost its permission. Registries that can change while in use emit it.
   */
  on?(event: 'reload', listener: () => void): unknown;
  off?(event: 'reload', listener: () => void): unknown;
}
