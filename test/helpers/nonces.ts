/** Reading safe nonces back: unscramble with the key file's scramble key to get the counters. */
import { readFileSync } from 'node:fs';
import { parseSecretKeyFile } from '../../lib/keys/keyfile.js';
import { unscramble } from '../../lib/protocol/tea.js';

export function scrambleKeyOf(secretKeyFile: string): Uint8Array {
  return parseSecretKeyFile(readFileSync(secretKeyFile, 'utf8'), secretKeyFile).scrambleKey;
}

/** The counter inside a scrambled safe nonce. */
export function counterOf(nonce16: Uint8Array, scrambleKey: Uint8Array): number {
  const block = Buffer.from(unscramble(nonce16, scrambleKey));
  return Number(block.readBigUInt64BE(0));
}
