/**
 * Write test/vectors/v2-handshake.json from the reference (test/helpers/v2-reference.ts) on the
 * documented seeds. Only when the protocol changes on purpose: the vector test then checks the
 * implementation against the new file.  Run: npx tsx scripts/v2-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { firstSafeNonce } from '../test/helpers/v2-drive.js';
import { referenceVector } from '../test/helpers/v2-reference.js';
import { VAULT_RANDOM8, VAULT_SCRAMBLE_KEY, vectorInputs } from '../test/helpers/v2-vector-inputs.js';

const v16 = firstSafeNonce(VAULT_SCRAMBLE_KEY, VAULT_RANDOM8);
const suites = ([1, 2] as const).map((suite) => {
  const inputs = vectorInputs(suite, v16);
  return { inputs, outputs: referenceVector(inputs) };
});
const file = new URL('../test/vectors/v2-handshake.json', import.meta.url);
writeFileSync(file, `${JSON.stringify({ description: 'curvetun protocol v2 handshake and first session frames from fixed seeds (PROTOCOL.md, "v2 test vectors"); hex, frame payloads without the length header', suites }, null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
