/**
 * How values cross the actor lane (lib/runtime/lane.ts): as length-prefixed fields of bytes in a
 * slot, described by a shape per method: `'bytes'` (one Uint8Array), `'json'` (a small JSON value),
 * or a record of named `'bytes'` / `'text'` fields.
 */
export type FieldKind = 'bytes' | 'text';
export type Shape = 'bytes' | 'json' | Readonly<Record<string, FieldKind>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Write `value` as fields into `out` at `offset`; the bytes written, or -1 if it does not fit or fit the shape. */
export function writeValue(shape: Shape, value: unknown, out: Uint8Array, offset: number, limit: number): number {
  let at = offset;
  const field = (bytes: Uint8Array): boolean => {
    if (at + 2 + bytes.length > limit || bytes.length > 0xffff) return false;
    out[at] = bytes.length >>> 8;
    out[at + 1] = bytes.length & 0xff;
    out.set(bytes, at + 2);
    at += 2 + bytes.length;
    return true;
  };
  if (shape === 'bytes') {
    if (!(value instanceof Uint8Array) || !field(value)) return -1;
  } else if (shape === 'json') {
    const text = JSON.stringify(value);
    if (text === undefined || !field(encoder.encode(text))) return -1;
  } else {
    if (typeof value !== 'object' || value === null) return -1;
    for (const [name, kind] of Object.entries(shape)) {
      const v = (value as Record<string, unknown>)[name];
      if (kind === 'bytes' ? !(v instanceof Uint8Array) : typeof v !== 'string') return -1;
      if (!field(kind === 'bytes' ? (v as Uint8Array) : encoder.encode(v as string))) return -1;
    }
  }
  return at - offset;
}

/** Read fields written by writeValue (copies: the slot is reused). */
export function readValue(shape: Shape, bytes: Uint8Array, offset: number): unknown {
  let at = offset;
  const field = (): Uint8Array => {
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    const value = bytes.slice(at + 2, at + 2 + length);
    at += 2 + length;
    return value;
  };
  if (shape === 'bytes') return field();
  if (shape === 'json') return JSON.parse(decoder.decode(field()));
  const value: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(shape)) {
    const f = field();
    value[name] = kind === 'bytes' ? f : decoder.decode(f);
  }
  return value;
}
