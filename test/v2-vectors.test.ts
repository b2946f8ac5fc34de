/**
 * The v2 test vectors (test/vectors/v2-handshake.json, PROTOCOL.md "v2 test vectors"): a whole
 * handshake of each suite and its first session frames from fixed seeds, checked against the
 * implementation (test/helpers/v2-drive.ts) and against a straight-line reference written from
 * PROTOCOL.md alone (test/helpers/v2-reference.ts). Regenerate with `npx tsx scripts/v2-vectors.ts`
 * only when the protocol changes on purpose. The key-update part: every epoch's secret and box key
 * from lib's own derivation, the sessions sealing and opening under them, and refusing the old key.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import nacl from 'tweetnacl';
import { V2_PREFIX_CLIENT_MESSAGE, boxKeyOf, nextTrafficSecret } from '../lib/protocol/v2/index.js';
import { refusal } from './helpers/refusal.js';
import { firstSafeNonce, implementationVector, payloadOf, vectorHandshake } from './helpers/v2-drive.js';
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
    for (const field of ['hello', 'cookie', 'initiate', 'ready', 'clientData', 'serverData', 'clientKeyUpdate', 'clientDataAfterUpdate', 'clientEnd', 'serverClose', 'serverKeyUpdate', 'serverDataAfterUpdate']) {
      t.is(made[field], vector.outputs[field], field);
    }
    t.is(made.branchServerData, vector.outputs.serverData, 'the server-update ending is the same connection');
    t.is(made.clientPeerKey, vector.outputs.S);
    t.is(made.serverPeerKey, vector.outputs.C);
    t.is(made.opened, `${vector.inputs.clientMessage}|${vector.inputs.serverMessage}|control|${vector.inputs.clientMessageAfterUpdate}`);
  });
}

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const text = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
/** A stored output as bytes (a missing field fails the test, not `undefined`). */
function bytesOf(outputs: Record<string, string>, field: string): Uint8Array<ArrayBuffer> {
  const value = outputs[field];
  if (value === undefined) throw new Error(`the vector has no ${field}`);
  return hex(value);
}
/** The c2s nonce of `counter`: the 16-byte prefix, then the counter as u64. */
function clientNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(24);
  nonce.set(V2_PREFIX_CLIENT_MESSAGE, 0);
  new DataView(nonce.buffer).setBigUint64(16, BigInt(counter));
  return nonce;
}

for (const [index, suite] of [1, 2].entries()) {
  test(`suite ${suite}: lib's key-update derivation gives every stored traffic secret and box key (c2s epochs 0-2, s2c 0-1)`, (t) => {
    const out = stored.suites[index]!.outputs;
    const chain = (first: Uint8Array, epochs: number): Uint8Array[] => {
      const secrets = [first];
      while (secrets.length < epochs) secrets.push(nextTrafficSecret(secrets[secrets.length - 1]!));
      return secrets;
    };
    const c2s = chain(bytesOf(out, 'trafficClientToServer'), 3);
    const s2c = chain(bytesOf(out, 'trafficServerToClient'), 2);
    c2s.forEach((secret, n) => {
      if (n > 0) t.deepEqual(Uint8Array.from(secret), bytesOf(out, `trafficClientToServer${n}`), `T_c2s,${n}`);
      t.deepEqual(Uint8Array.from(boxKeyOf(secret)), bytesOf(out, `boxKeyClientToServer${n}`), `K_c2s,${n}`);
    });
    s2c.forEach((secret, n) => {
      if (n > 0) t.deepEqual(Uint8Array.from(secret), bytesOf(out, `trafficServerToClient${n}`), `T_s2c,${n}`);
      t.deepEqual(Uint8Array.from(boxKeyOf(secret)), bytesOf(out, `boxKeyServerToClient${n}`), `K_s2c,${n}`);
    });
    // Every epoch differs from the one before (the stored values are not copies of each other).
    t.is(new Set([...c2s, ...s2c].map(toHex)).size, 5);
  });

  test(`suite ${suite}: after the vector's KEY_UPDATE a session opens the DATA after it and refuses the same counter under the old key (EAUTH), both directions`, async (t) => {
    const { inputs, outputs: out } = stored.suites[index]!;
    const { client, server } = await vectorHandshake(inputs, VAULT_SCRAMBLE_KEY, VAULT_RANDOM8);
    // The old-key frames are genuine: K_c2s,0 opens the client's at counter 2, so only the key refuses it.
    t.not(nacl.secretbox.open(bytesOf(out, 'clientDataUnderOldKey'), clientNonce(2), bytesOf(out, 'boxKeyClientToServer0')), null);

    t.deepEqual(server.receive(bytesOf(out, 'clientData')), text(inputs.clientMessage));
    t.is(server.receive(bytesOf(out, 'clientKeyUpdate')), null);
    t.is(server.position.receiveEpoch, 1);
    t.is(refusal(() => server.receive(bytesOf(out, 'clientDataUnderOldKey'))).code, 'EAUTH');
    t.deepEqual(server.receive(bytesOf(out, 'clientDataAfterUpdate')), text(inputs.clientMessageAfterUpdate));

    t.deepEqual(client.receive(bytesOf(out, 'serverData')), text(inputs.serverMessage));
    t.is(client.receive(bytesOf(out, 'serverKeyUpdate')), null);
    t.is(client.position.receiveEpoch, 1);
    t.is(refusal(() => client.receive(bytesOf(out, 'serverDataUnderOldKey'))).code, 'EAUTH');
    t.deepEqual(client.receive(bytesOf(out, 'serverDataAfterUpdate')), text(inputs.serverMessageAfterUpdate));
    t.is(client.position.received, 4);
  });

  test(`suite ${suite}: a session's second key update seals under the stored K_c2s,2 (not K_c2s,1), and the peer's session opens it`, async (t) => {
    const { inputs, outputs: out } = stored.suites[index]!;
    const { client, server } = await vectorHandshake(inputs, VAULT_SCRAMBLE_KEY, VAULT_RANDOM8);
    const message = text('in the third epoch');
    const frames = [client.seal(text(inputs.clientMessage)), client.sealKeyUpdate(), client.seal(text(inputs.clientMessageAfterUpdate)), client.sealKeyUpdate(), client.seal(message)];
    t.deepEqual(Uint8Array.from(payloadOf(frames[2]!)), bytesOf(out, 'clientDataAfterUpdate'));
    t.is(client.position.sendEpoch, 2);
    const last = Uint8Array.from(payloadOf(frames[4]!));
    t.deepEqual(nacl.secretbox.open(last, clientNonce(4), bytesOf(out, 'boxKeyClientToServer2')), Uint8Array.of(0x10, ...message));
    t.is(nacl.secretbox.open(last, clientNonce(4), bytesOf(out, 'boxKeyClientToServer1')), null);
    const delivered = frames.map((frame) => server.receive(payloadOf(frame)));
    t.deepEqual(delivered.filter((m) => m !== null), [text(inputs.clientMessage), text(inputs.clientMessageAfterUpdate), message]);
    t.is(server.position.receiveEpoch, 2);
  });
}
