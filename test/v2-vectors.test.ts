/**
 * The v2 test vectors (test/vectors/v2-handshake.json, PROTOCOL.md "v2 test vectors"): a whole
 * handshake of each suite and its first session frames from fixed seeds, checked against the
 * implementation (test/helpers/v2-drive.ts) and against a straight-line reference written from
 * PROTOCOL.md alone (test/helpers/v2-reference.ts). Regenerate with `npx tsx scripts/v2-vectors.ts`
 * only when the protocol changes on purpose.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { firstSafeNonce, implementationVector } from './helpers/v2-drive.js';
import { referenceVector } from './helpers/v2-reference.js';
import type { VectorInputs } from './helpers/v2-reference.js';
import { VAULT_RANDOM8, VAULT_SCRAMBLE_KEY, vectorInputs } from './helpers/v2-vector-inputs.js';

interface Vector {
  inputs: VectorInputs;
  outputs: Record<string, string>;
}
const stored = JSON.parse(readFileSync(new URL('./vectors/v2-handshake.json', import.meta.url), 'utf8')) as { suites: Vector[] };

test('the stored inputs are the documented seeds, and v16 is what the vault makes from them', (t) => {
  const v16 = firstSafeNonce(VAULT_SCRAMBLE_KEY, VAULT_RANDOM8);
  t.deepEqual(stored.suites.map((v) => v.inputs), [vectorInputs(1, v16), vectorInputs(2, v16)]);
});

for (const [index, suite] of [1, 2].entries()) {
  test(`suite ${suite}: the reference written from PROTOCOL.md gives every stored value`, (t) => {
    const vector = stored.suites[index]!;
    t.deepEqual(referenceVector(vector.inputs), vector.outputs);
  });

  test(`suite ${suite}: the implementation gives every stored packet and frame, and each side opens the other's`, async (t) => {
    const vector = stored.suites[index]!;
    const made = await implementationVector(vector.inputs, VAULT_SCRAMBLE_KEY, VAULT_RANDOM8);
    for (const field of ['hello', 'cookie', 'initiate', 'ready', 'clientData', 'serverData', 'clientKeyUpdate', 'clientDataAfterUpdate', 'clientEnd', 'serverClose']) {
      t.is(made[field], vector.outputs[field], field);
    }
    t.is(made.clientPeerKey, vector.outputs.S);
    t.is(made.serverPeerKey, vector.outputs.C);
    t.is(made.opened, `${vector.inputs.clientMessage}|${vector.inputs.serverMessage}|control|${vector.inputs.clientMessageAfterUpdate}`);
  });
}
