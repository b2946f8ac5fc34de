/**
 * What `util.inspect` (console.log, debuggers, error reporters) shows of an object that holds or
 * reaches key material: its name and a few facts picked by hand, never its fields. Fields that
 * hold keys are also truly private (`#name`), which inspect never shows, whatever its options.
 */
import { inspect } from 'node:util';

/** The method name util.inspect calls: `[INSPECT]() { return describe(…) }`. */
export const INSPECT: typeof inspect.custom = inspect.custom;

export type Fact = string | number | boolean | null | undefined;

/** `Name { fact: value, … }`, values shown as util.inspect shows plain values; undefined ones left out. */
export function describe(name: string, facts: Record<string, Fact> = {}): string {
  const shown = Object.entries(facts)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  return shown.length === 0 ? `${name} {}` : `${name} { ${shown.join(', ')} }`;
}

/** A public key as it appears in files: base64 text. */
export function publicKeyFact(key: Uint8Array | undefined): string | undefined {
  return key && key.length > 0 ? Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64') : undefined;
}
