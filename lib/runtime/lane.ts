/**
 * The fast lane of an actor: small requests and replies through shared memory instead of
 * `postMessage`, for the few calls every handshake makes (vault open/seal, cookie seal/open/admit,
 * registry verify).
 *
 * Why: a `postMessage` round trip to a worker pays a structured clone and an event-loop wake-up on
 * each side; a futex wake-up through `Atomics.wait`/`notify` is much cheaper (figures: bench/RESULTS.md, "Measurements behind design choices"). The worker
 * waits on the lane's doorbell with `Atomics.wait` (it blocks only its own thread); the owner never
 * blocks: it waits for replies with `Atomics.waitAsync`.
 *
 * Layout of the SharedArrayBuffer: a header of Int32 counters, then SLOTS fixed-size slots. A slot
 * is FREE → (owner writes a request) REQUEST → (worker writes the reply) REPLY → (owner reads it)
 * FREE. Only the owner hands out slots, so no two requests share one. Anything that does not fit a
 * slot, and every other method, goes by `postMessage` as before.
 *
 * Values cross as fields of bytes, described by a shape per method: `'bytes'` (one Uint8Array),
 * `'json'` (a small JSON value), or a record of named `'bytes'` / `'text'` fields.
 */
import { CurvetunError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { LANE_IDLE_WAIT_MS, LANE_SLOTS, LANE_SLOT_BYTES } from '../limits.js';
import { errorToData } from './messages.js';
import { keepAwake, pendingWork } from './awake.js';

export type FieldKind = 'bytes' | 'text';
export type Shape = 'bytes' | 'json' | Readonly<Record<string, FieldKind>>;

/** How one method's arguments and result cross the lane. */
export interface LaneMethod {
  args: Shape;
  result: Shape;
}

/** The methods of an actor that take the lane, by name. Both ends must use the same table. */
export type LaneMethods = Readonly<Record<string, LaneMethod>>;

// Header (Int32 indexes).
const REQUESTS = 0; // bumped by the owner for each request (and to wake the worker for other mail)
const REPLIES = 1; // bumped by the worker for each reply
const STOP = 2; // set by the owner when the lane is abandoned
const MAIL = 3; // set by the owner when a postMessage is waiting: the worker should visit its event loop
const SLEEPING = 4; // set by the worker while it blocks in Atomics.wait: only then does a request need a wake-up call
const HEADER_BYTES = 32;

// Slots.
const SLOTS = LANE_SLOTS;
const SLOT_BYTES = LANE_SLOT_BYTES;
const SLOT_HEADER_BYTES = 16; // state, method index / status, payload length, spare (Int32 each)
const PAYLOAD_BYTES = SLOT_BYTES - SLOT_HEADER_BYTES;
const FREE = 0;
const REQUEST = 1;
const REPLY = 2;
const OK = 0;
const FAILED = 1;

/** How long an idle worker blocks before it lets its own event loop run (timers, file watches). */
const IDLE_WAIT_MS = LANE_IDLE_WAIT_MS;
/** While this thread has work in progress (lib/runtime/awake.ts), it blocks at most this long at a time. */
const BUSY_WAIT_MS = 1;

export const LANE_BYTES = HEADER_BYTES + SLOTS * SLOT_BYTES;

/** `Atomics.waitAsync` (V8 has it on Node 20; TypeScript's ES2022 lib does not declare it). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Write `value` as fields into `out` at `offset`; the bytes written, or -1 if it does not fit or fit the shape. */
function writeValue(shape: Shape, value: unknown, out: Uint8Array, offset: number, limit: number): number {
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
function readValue(shape: Shape, bytes: Uint8Array, offset: number): unknown {
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

class LaneView {
  readonly header: Int32Array;
  readonly slotInts: Int32Array;
  readonly bytes: Uint8Array;
  readonly names: string[];

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly methods: LaneMethods,
  ) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.slotInts = new Int32Array(buffer, HEADER_BYTES, (SLOTS * SLOT_BYTES) / 4);
    this.bytes = new Uint8Array(buffer);
    this.names = Object.keys(methods);
  }

  /** Int32 index of a slot's header word `word` (0 state, 1 method/status, 2 length). */
  at(slot: number, word: number): number {
    return (slot * SLOT_BYTES) / 4 + word;
  }

  payload(slot: number): number {
    return HEADER_BYTES + slot * SLOT_BYTES + SLOT_HEADER_BYTES;
  }

  /** Zero a slot's payload: replies may carry secrets (an ephemeral secret key), requests too. */
  wipe(slot: number, length: number): void {
    const start = this.payload(slot);
    this.bytes.fill(0, start, start + length);
  }
}

export type LaneReply = { ok: true; value: unknown } | { ok: false; error: CurvetunError };

/**
 * The owner's end. `post` puts a request in a free slot and rings the worker; replies are
 * collected as they come and handed to `onReply` with the id given to `post`.
 */
export class LaneClient {
  /** Private for real (#): its bytes are the shared memory, where replies with secrets pass. */
  readonly #view: LaneView;
  private readonly free: number[] = [];
  /** The call id waiting in each slot (0: none), and its method (the worker overwrites the slot's word with its status). */
  private readonly owners = new Int32Array(SLOTS);
  private readonly methodBySlot: string[] = [];
  private inFlight = 0;
  private watching = false;
  private seenReplies = 0;
  private closed = false;

  constructor(
    buffer: SharedArrayBuffer,
    methods: LaneMethods,
    private readonly onReply: (id: number, reply: LaneReply) => void,
  ) {
    this.#view = new LaneView(buffer, methods);
    for (let i = SLOTS - 1; i >= 0; i--) this.free.push(i);
  }

  /** Send `method(args)` on the lane; false when it cannot go this way (not a lane method, too big, all slots busy). */
  post(id: number, method: string, args: unknown): boolean {
    if (this.closed) return false;
    if (!Object.hasOwn(this.#view.methods, method) || this.free.length === 0) return false;
    const spec = this.#view.methods[method]!;
    const slot = this.free[this.free.length - 1]!;
    const v = this.#view;
    const length = writeValue(spec.args, args, v.bytes, v.payload(slot), v.payload(slot) + PAYLOAD_BYTES);
    if (length < 0) {
      v.wipe(slot, PAYLOAD_BYTES); // the fields that did fit may hold secrets
      return false;
    }
    this.free.pop();
    this.owners[slot] = id;
    this.methodBySlot[slot] = method;
    v.slotInts[v.at(slot, 1)] = v.names.indexOf(method);
    v.slotInts[v.at(slot, 2)] = length;
    Atomics.store(v.slotInts, v.at(slot, 0), REQUEST);
    this.ring();
    this.inFlight++;
    this.watch();
    return true;
  }

  /** A postMessage is on its way: wake the worker so it visits its event loop. */
  ringForMail(): void {
    Atomics.store(this.#view.header, MAIL, 1);
    this.ring();
  }

  /**
   * Bump the doorbell, and wake the worker only if it sleeps: a futex wake is a system call, and
   * under load the worker is often still busy with earlier requests. (It sets SLEEPING before it
   * compares the doorbell in Atomics.wait, and we read SLEEPING after bumping, so one of the two
   * always sees the other: no request is left unseen.)
   */
  private ring(): void {
    const h = this.#view.header;
    Atomics.add(h, REQUESTS, 1);
    if (Atomics.load(h, SLEEPING) === 1) Atomics.notify(h, REQUESTS);
  }

  /** Stop using the lane (the worker died or is stopping): nothing in it will be answered. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const v = this.#view;
    Atomics.store(v.header, STOP, 1);
    Atomics.add(v.header, REQUESTS, 1);
    Atomics.notify(v.header, REQUESTS);
    // Release our own waitAsync, so nothing keeps the old buffer.
    Atomics.add(v.header, REPLIES, 1);
    Atomics.notify(v.header, REPLIES);
  }

  private watch(): void {
    if (this.watching || this.closed || this.inFlight === 0) return;
    const v = this.#view;
    const result = waitAsync(v.header, REPLIES, this.seenReplies);
    this.watching = true;
    if (result.async) result.value.then(() => this.collect());
    else queueMicrotask(() => this.collect());
  }

  private collect(): void {
    this.watching = false;
    if (this.closed) return;
    const v = this.#view;
    this.seenReplies = Atomics.load(v.header, REPLIES);
    for (let slot = 0; slot < SLOTS; slot++) {
      if (Atomics.load(v.slotInts, v.at(slot, 0)) !== REPLY) continue;
      const id = this.owners[slot]!;
      const status = v.slotInts[v.at(slot, 1)];
      const length = v.slotInts[v.at(slot, 2)]!;
      const method = this.methodBySlot[slot]!;
      let reply: LaneReply;
      try {
        if (status === OK) {
          reply = { ok: true, value: readValue(v.methods[method]!.result, v.bytes, v.payload(slot)) };
        } else {
          const error = readValue('json', v.bytes, v.payload(slot)) as { code: ErrorCode; message: string };
          reply = { ok: false, error: new CurvetunError(error.code, error.message) };
        }
      } catch {
        reply = { ok: false, error: new CurvetunError('EACTOR', 'an actor reply did not decode') };
      }
      v.wipe(slot, length);
      this.owners[slot] = 0;
      Atomics.store(v.slotInts, v.at(slot, 0), FREE);
      this.free.push(slot);
      this.inFlight--;
      this.onReply(id, reply);
    }
    this.watch();
  }
}

/** What the worker's handlers look like to the lane: they may return a value or a promise. */
export type LaneHandlers = Readonly<Record<string, (args: any) => unknown>>;

/**
 * The worker's end: answer lane requests until the owner stops the lane. Runs on the worker's own
 * thread, blocking it in `Atomics.wait` while nothing comes; every IDLE_WAIT_MS, when a handler
 * returned a promise, and when the owner posted a message, it lets the event loop run, then resumes.
 */
export function serveLane(buffer: SharedArrayBuffer, methods: LaneMethods, handlers: LaneHandlers, name: string): void {
  const v = new LaneView(buffer, methods);
  const resume = (): void => void setImmediate(run);

  function reply(slot: number, status: number, shape: Shape, value: unknown): void {
    const start = v.payload(slot);
    let length = writeValue(shape, value, v.bytes, start, start + PAYLOAD_BYTES);
    if (length < 0) {
      status = FAILED;
      length = writeValue('json', { code: 'EACTOR', message: `${name} returned a value that does not fit the lane` }, v.bytes, start, start + PAYLOAD_BYTES);
    }
    v.slotInts[v.at(slot, 1)] = status;
    v.slotInts[v.at(slot, 2)] = length;
    Atomics.store(v.slotInts, v.at(slot, 0), REPLY);
    Atomics.add(v.header, REPLIES, 1);
    Atomics.notify(v.header, REPLIES);
  }

  function fail(slot: number, error: unknown, method: string): void {
    reply(slot, FAILED, 'json', errorToData(error, `${name}.${method}`));
  }

  /** Answer every request waiting now; true if some answer will come later (a promise). */
  function answerWaiting(): boolean {
    let later = false;
    for (let slot = 0; slot < SLOTS; slot++) {
      const state = v.at(slot, 0);
      if (Atomics.load(v.slotInts, state) !== REQUEST) continue;
      Atomics.store(v.slotInts, state, -REQUEST); // taken: not answered twice
      const method = v.names[v.slotInts[v.at(slot, 1)]!];
      const spec = method !== undefined && Object.hasOwn(methods, method) ? methods[method] : undefined;
      const handler = method !== undefined && Object.hasOwn(handlers, method) ? handlers[method] : undefined;
      if (!spec || !handler) {
        fail(slot, new CurvetunError('EINVAL', `${name} has no lane method #${v.slotInts[v.at(slot, 1)]}`), String(method));
        continue;
      }
      let result: unknown;
      try {
        const args = readValue(spec.args, v.bytes, v.payload(slot));
        v.wipe(slot, v.slotInts[v.at(slot, 2)]!);
        result = handler(args);
      } catch (error) {
        fail(slot, error, method!);
        continue;
      }
      if (result instanceof Promise) {
        later = true;
        keepAwake(result).then(
          (value) => reply(slot, OK, spec.result, value),
          (error: unknown) => fail(slot, error, method!),
        );
      } else {
        reply(slot, OK, spec.result, result);
      }
    }
    return later;
  }

  function run(): void {
    for (;;) {
      if (Atomics.load(v.header, STOP) === 1) return;
      const seen = Atomics.load(v.header, REQUESTS);
      if (answerWaiting()) return resume();
      if (Atomics.exchange(v.header, MAIL, 0) === 1) return resume();
      Atomics.store(v.header, SLEEPING, 1);
      const woke = Atomics.wait(v.header, REQUESTS, seen, pendingWork() > 0 ? BUSY_WAIT_MS : IDLE_WAIT_MS);
      Atomics.store(v.header, SLEEPING, 0);
      if (woke === 'timed-out') return resume();
    }
  }

  resume();
}
