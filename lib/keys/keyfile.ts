/**
 * Key files, in the spirit of OpenSSH's:
 *
 *   id_curvetun.pub   `curvetun-x25519 <base64 public key> <comment>`   (share it freely)
 *   id_curvetun       an armored block holding the secret key and the scramble key, mode 0600:
 *
 *     -----BEGIN CURVETUN SECRET KEY-----
 *     Comment: alice@laptop
 *     <base64 of secret key (32 bytes) · scramble key (32 bytes)>
 *     -----END CURVETUN SECRET KEY-----
 *
 * Loading refuses a secret file that group or others may read. Messages never include key bytes.
 */
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { CurvetunError, systemError } from '../errors.js';
import { removeQuietly, syncDirectory, writeFileAtomic } from '../fs/atomic.js';
import { KEY_TYPE, decodePublicKeyText, encodePublicKeyText } from './text.js';
import { KEY_BYTES } from '../protocol/constants.js';

const BEGIN = '-----BEGIN CURVETUN SECRET KEY-----';
const END = '-----END CURVETUN SECRET KEY-----';

export interface SecretKeyMaterial {
  secretKey: Uint8Array;
  /** Scrambles safe-nonce counters (see PROTOCOL.md); kept with the secret key. */
  scrambleKey: Uint8Array;
  comment: string;
}

export function publicKeyFileFor(secretKeyFile: string): string {
  return `${secretKeyFile}.pub`;
}

export function formatSecretKeyFile(material: SecretKeyMaterial): string {
  const body = Buffer.concat([material.secretKey, material.scrambleKey]).toString('base64');
  return `${BEGIN}\nComment: ${oneLine(material.comment)}\n${body}\n${END}\n`;
}

export function formatPublicKeyFile(publicKey: Uint8Array, comment: string): string {
  return `${KEY_TYPE} ${encodePublicKeyText(publicKey)} ${oneLine(comment)}\n`.replace(/ \n$/, '\n');
}

export function parseSecretKeyFile(text: string, where: string): SecretKeyMaterial {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  if (begin < 0 || end < begin) throw new CurvetunError('EKEY', `${where} is not a curvetun secret key file (no BEGIN/END lines)`);
  let comment = '';
  const body: string[] = [];
  for (const line of lines.slice(begin + 1, end)) {
    if (line.startsWith('Comment:')) comment = line.slice('Comment:'.length).trim();
    else body.push(line);
  }
  const joined = body.join('');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(joined)) throw new CurvetunError('EKEY', `${where}: the key block is not base64`);
  const bytes = Buffer.from(joined, 'base64');
  if (bytes.length !== 64) throw new CurvetunError('EKEY', `${where}: the key block must hold 64 bytes`);
  return {
    secretKey: new Uint8Array(bytes.subarray(0, KEY_BYTES)),
    scrambleKey: new Uint8Array(bytes.subarray(KEY_BYTES, 2 * KEY_BYTES)),
    comment,
  };
}

export function parsePublicKeyLine(text: string, where: string): { publicKey: Uint8Array; comment: string } {
  const words = text.trim().split(/\s+/);
  const at = words[0] === KEY_TYPE ? 1 : 0;
  const keyText = words[at];
  if (!keyText) throw new CurvetunError('EKEY', `${where}: no public key found`);
  try {
    return { publicKey: decodePublicKeyText(keyText), comment: words.slice(at + 1).join(' ') };
  } catch {
    throw new CurvetunError('EKEY', `${where}: the public key is not 44 characters of base64`);
  }
}

/** Write the secret file (0600) and the public file (0644), each atomically. */
export function saveKeyFiles(secretKeyFile: string, material: SecretKeyMaterial, publicKey: Uint8Array): void {
  writeFileAtomic(secretKeyFile, formatSecretKeyFile(material), 0o600);
  writeFileAtomic(publicKeyFileFor(secretKeyFile), formatPublicKeyFile(publicKey, material.comment), 0o644);
}

/**
 * Write the key files only if no secret file exists yet; returns false (writing nothing) when one
 * does. The secret file appears whole and at once (temp file, fsync, hard link), so two processes
 * creating the same identity at the same time end up sharing one key, never holding two.
 */
export function createKeyFiles(secretKeyFile: string, material: SecretKeyMaterial, publicKey: Uint8Array): boolean {
  const dir = dirname(secretKeyFile);
  const temp = join(dir, `.${basename(secretKeyFile)}.${process.pid}.${randomBytes(4).toString('hex')}.new`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', 0o600);
    writeSync(fd, formatSecretKeyFile(material));
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    try {
      linkSync(temp, secretKeyFile); // fails if the file exists: no check-then-write race
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      // File systems without hard links: check, then rename (a narrow race, still never half a file).
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      if (existsSync(secretKeyFile)) return false;
      renameSync(temp, secretKeyFile);
    }
    syncDirectory(dir);
  } catch (error) {
    if (error instanceof CurvetunError) throw error;
    throw systemError('EIO', `cannot create ${secretKeyFile}: ${(error as NodeJS.ErrnoException).code ?? 'unknown'}`, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(temp);
  }
  writeFileAtomic(publicKeyFileFor(secretKeyFile), formatPublicKeyFile(publicKey, material.comment), 0o644);
  return true;
}

/** Read a secret key file, refusing one that group or others can read. */
export function loadSecretKeyFile(secretKeyFile: string): SecretKeyMaterial {
  let mode: number;
  try {
    mode = statSync(secretKeyFile).mode;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw systemError('EKEY', code === 'ENOENT' ? `no secret key file at ${secretKeyFile}` : `cannot read ${secretKeyFile}: ${code}`, error);
  }
  if ((mode & 0o077) !== 0) {
    throw new CurvetunError(
      'EKEY',
      `${secretKeyFile} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); refusing to use it — run: chmod 600 ${secretKeyFile}`,
    );
  }
  return parseSecretKeyFile(readFileSync(secretKeyFile, 'utf8'), secretKeyFile);
}

/** Read a public key file (`curvetun-x25519 <base64> [comment]`, or just the base64). */
export function loadPublicKeyFile(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw systemError('EKEY', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`, error);
  }
  return parsePublicKeyLine(text, file).publicKey;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}
