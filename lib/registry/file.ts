/**
 * The registry file (known_hosts): one `<who> <key> [comment]` per line.
 *
 *   # comments and blank lines are ignored
 *   127.0.0.1        Zm9v...=                 a single address
 *   10.0.0.0/8       curvetun-x25519 Zm9v...= office   (a .pub line pasted after the pattern)
 *   .example.com     Zm9v...=                 any name under example.com
 *   *                Zm9v...=                 this key from anywhere
 *
 * `<who>` is any pattern of lib/net/patterns.ts; `<key>` is the base64 public key. A line may
 * start with the marker `@v1` (where OpenSSH puts `@cert-authority`): that key may also use
 * protocol v1, or (client side) that host is spoken to in v1. Unmarked lines are v2-only.
 *
 *   @v1 10.0.0.5     curvetun-x25519 Zm9v...= erlang peer   (v1: exposed to key-compromise impersonation)
 */
import { CurvetunError } from '../errors.js';
import { KEY_TYPE, decodePublicKeyText, encodePublicKeyText, quotable } from '../keys/text.js';
import { parsePattern } from '../net/patterns.js';
import type { Pattern } from '../net/patterns.js';
import { KEY_BYTES } from '../protocol/constants.js';

export interface ParsedEntry {
  who: string;
  pattern: Pattern;
  key: Uint8Array;
  comment: string;
  /** The `@v1` marker. */
  v1: boolean;
  /** 1-based line number in the file. */
  line: number;
}

/** The one marker a line may start with. */
export const V1_MARKER = '@v1';

/** A line that does not parse: where it is and why. Never contains key bytes. */
export class RegistryFileError extends CurvetunError {
  constructor(readonly file: string, readonly line: number, reason: string) {
    super('EINVAL', `${file}:${line}: ${reason}`);
    this.name = 'RegistryFileError';
  }
}

/** Longest line read; a real line is under 400 characters. */
export const MAX_LINE = 4096;

/** Parse one line: an entry, `null` for a blank or comment line, or `RegistryFileError`. */
export function parseRegistryLine(text: string, file: string, line: number): ParsedEntry | null {
  if (text.length > MAX_LINE) throw new RegistryFileError(file, line, `the line is longer than ${MAX_LINE} characters`);
  const content = text.replace(/#.*$/, '').trim();
  const commentMatch = /#(.*)$/.exec(text);
  if (content.length === 0) return null;
  const words = content.split(/\s+/);
  const v1 = words[0] === V1_MARKER;
  if (v1) words.shift();
  else if (words[0]!.startsWith('@')) throw new RegistryFileError(file, line, `unknown marker '${quotable(words[0]!)}' (the one marker is ${V1_MARKER})`);
  const who = words[0];
  if (who === undefined) throw new RegistryFileError(file, line, `${V1_MARKER} has no pattern and key after it`);
  let at = 1;
  if (words[at] === KEY_TYPE) at++;
  const keyText = words[at];
  if (keyText === undefined) throw new RegistryFileError(file, line, `'${quotable(who)}' has no key after it`);
  let pattern: Pattern;
  try {
    pattern = parsePattern(who);
  } catch (error) {
    throw new RegistryFileError(file, line, (error as Error).message);
  }
  let key: Uint8Array;
  try {
    key = decodePublicKeyText(keyText);
  } catch {
    throw new RegistryFileError(file, line, 'the key is not 44 characters of base64 (a 32-byte public key)');
  }
  const trailing = words.slice(at + 1).join(' ');
  const comment = [trailing, commentMatch?.[1]?.trim() ?? ''].filter(Boolean).join(' ');
  return { who, pattern, key, comment, v1, line };
}

/** Parse a whole file; throws `RegistryFileError` at the first bad line. */
export function parseRegistry(text: string, file: string): ParsedEntry[] {
  const entries: ParsedEntry[] = [];
  text.split(/\r?\n/).forEach((lineText, i) => {
    const entry = parseRegistryLine(lineText, file, i + 1);
    if (entry) entries.push(entry);
  });
  return entries;
}

/** One line for the file; `EINVAL` for a pattern or key that could not be read back. */
export function formatRegistryLine(who: string, key: Uint8Array, comment?: string, v1 = false): string {
  if (typeof who !== 'string' || /\s|#/.test(who.trim())) throw new CurvetunError('EINVAL', 'a pattern is one word without #');
  parsePattern(who);
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new CurvetunError('EINVAL', `a public key is ${KEY_BYTES} bytes`);
  const clean = typeof comment === 'string' ? comment.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 200) : '';
  const safeComment = clean ? ` # ${clean}` : '';
  return `${v1 ? `${V1_MARKER} ` : ''}${who.trim()} ${encodePublicKeyText(key)}${safeComment}`;
}

export const REGISTRY_HEADER = `# curvetun known_hosts: one "<who> <base64 public key> [comment]" per line.
# <who>: an IP address, a CIDR network, a DNS name, a .domain pattern, or * (see docs/registry.md).
# A line starting with @v1 also allows protocol v1 (exposed to key-compromise impersonation).
`;
