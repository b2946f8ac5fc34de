/**
 * The registry: curvetun's known_hosts. Which client key may connect from where (server side),
 * and which key a server has (client side).
 */

export type Verdict =
  /** `v1`: some allowing line carries the `@v1` marker, so this key may also use protocol v1. */
  | { allowed: true; v1?: boolean }
  /**
   * `refusal` names the kind for a v2 REJECT: 'address-not-allowed' when the key is known but not
   * from this address, 'version-not-allowed' for a v1 client whose lines are all v2-only, else
   * 'key-not-allowed' (the default when left out).
   */
  | { allowed: false; reason: string; refusal?: 'key-not-allowed' | 'address-not-allowed' | 'version-not-allowed' };

export interface RegistryEntry {
  /** An IP address, a CIDR network, a DNS name, a domain pattern (`.example.com`) or `*`. */
  who: string;
  /** The 32-byte public key, as it appears in the file (base64, see README). */
  key: Uint8Array;
  /** The line's comment, when listing; ignored by `add` (pass the comment as its own argument). */
  comment?: string;
  /**
   * The `@v1` marker: this key may use protocol v1 (server side), or this host is spoken to in v1
   * (client side). v1 exposes the server to key-compromise impersonation of that client: a v1
   * vouch can be forged by whoever holds the server's secret key. Unmarked lines are v2-only.
   */
  v1?: boolean;
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
  /**
   * Client side, optional: the line `lookup` would use for `host` (its key and `@v1` marker), so
   * `connect()` picks the version the line asks for. Registries without it are spoken to in v2.
   */
  lookupEntry?(host: string, addresses?: readonly string[]): Promise<RegistryEntry | undefined>;
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
