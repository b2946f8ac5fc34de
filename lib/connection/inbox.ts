/**
 * The inbox: opened messages on their way to the application, and the backpressure that keeps
 * them bounded.
 *
 * A message goes to the longest-waiting `recv()` caller, else to the `'message'` listeners, else
 * into a queue. Above the high-water mark TCP reading pauses, and it resumes once the queue is
 * below half of it, so a slow reader makes the kernel's window close instead of our memory grow.
 *
 * The socket makes its inbox on first use (a `recv()`, or a message nobody listens for), so a
 * socket whose messages go straight to a listener, or an idle one, holds none.
 */
import type { Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import type { LifecycleStateName } from './lifecycle-names.js';
import { WaiterQueue } from './waiters.js';
import type { WaitOptions } from './waiters.js';

/** What the inbox needs from its socket. */
export interface InboxOwner {
  readonly state: LifecycleStateName;
  listenerCount(event: 'message'): number;
  emit(event: 'message', message: Uint8Array): boolean;
  on(event: 'newListener', listener: (event: string | symbol) => void): unknown;
  /** @internal Hand queued messages to the 'message' listeners (the inbox's `handToListeners`). */
  handQueuedToListeners(): void;
}

// Shared by every socket: messages that arrived before anyone listened go to the first
// 'message' listener (Node calls this with `this` set to the socket).
function onNewListener(this: InboxOwner, event: string | symbol): void {
  if (event === 'message') queueMicrotask(() => this.handQueuedToListeners());
}

export class Inbox {
  private readonly queue: Uint8Array[] = [];
  /** Bytes of the messages in `queue`. */
  private bytes = 0;
  private waiters: WaiterQueue<Uint8Array> | null = null;
  private watchingListeners = false;

  constructor(
    private readonly owner: InboxOwner,
    private readonly tcp: TcpSocket,
    private readonly highWaterMark: number,
  ) {}

  /** Bytes of the messages queued. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** The oldest queued message, if any (TCP reading resumes when there is room again). */
  take(): Uint8Array | undefined {
    const message = this.queue.shift();
    if (message) {
      this.bytes -= message.length;
      this.resumeIfRoom();
    }
    return message;
  }

  /** Wait for the next message (call order; `timeout` and `signal` as in `recv`). */
  wait(options: WaitOptions): Promise<Uint8Array> {
    return (this.waiters ??= new WaiterQueue<Uint8Array>('recv')).wait(options);
  }

  /** A message arrived: to a waiting caller, else the listeners, else the queue. */
  deliver(message: Uint8Array): void {
    if (this.waiters?.resolveNext(message)) return;
    const listening = this.owner.listenerCount('message') > 0;
    if (listening && this.queue.length === 0) {
      this.owner.emit('message', message);
      return;
    }
    this.queue.push(message);
    this.bytes += message.length;
    if (this.bytes >= this.highWaterMark) this.tcp.pause();
    // A listener with older messages still queued gets them first, this one after.
    if (listening) queueMicrotask(() => this.handToListeners());
    else if (!this.watchingListeners) {
      this.watchingListeners = true;
      this.owner.on('newListener', onNewListener);
    }
  }

  /** Hand queued messages to the 'message' listeners, oldest first. */
  handToListeners(): void {
    while (this.queue.length > 0 && this.owner.listenerCount('message') > 0) {
      const message = this.queue.shift()!;
      this.bytes -= message.length;
      this.owner.emit('message', message);
    }
    this.resumeIfRoom();
  }

  /** Resume TCP reading if it is paused, the connection is up and the queue is below half the mark. */
  resumeIfRoom(): void {
    if (this.bytes < this.highWaterMark / 2) resumeReading(this.owner, this.tcp);
  }

  /** The connection closed: every waiting caller learns why. Queued messages stay readable. */
  close(reason: CurvetunError): void {
    this.waiters?.rejectAll(reason);
  }
}

/** Resume a paused TCP socket, but only once the connection is up (the handshake bounds its own reading). */
export function resumeReading(owner: { readonly state: LifecycleStateName }, tcp: TcpSocket): void {
  if (owner.state === 'connected' && tcp.isPaused()) tcp.resume();
}
