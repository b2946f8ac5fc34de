/**
 * Measuring what a process holds: heap after a full GC, active handles, open file descriptors.
 * Used to show that hostile traffic and long runs leave nothing behind.
 */
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// ava runs tests without --expose-gc; the flag can still be turned on at run time and `gc`
// picked up from a fresh context.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface Snapshot {
  heapUsed: number;
  /** Active handles by type (sockets, timers, servers, …), from process.getActiveResourcesInfo(). */
  handles: Record<string, number>;
  fds: number;
}

/** Let pending callbacks run, then collect garbage twice and measure. */
export async function snapshot(): Promise<Snapshot> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
  const handles: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) handles[kind] = (handles[kind] ?? 0) + 1;
  return { heapUsed: process.memoryUsage().heapUsed, handles, fds: readdirSync('/proc/self/fd').length };
}

/** Handles that are sockets or servers (timers come and go with unrelated library work). */
export function ioHandles(s: Snapshot): number {
  return (s.handles.TCPSocketWrap ?? 0) + (s.handles.TCPServerWrap ?? 0) + (s.handles.TCPWRAP ?? 0) + (s.handles.PipeWrap ?? 0);
}

/** Poll `measure` until `ok` holds or `ms` passes; returns the last measurement. */
export async function settle(ok: (s: Snapshot) => boolean, ms: number): Promise<Snapshot> {
  const deadline = Date.now() + ms;
  let s = await snapshot();
  while (!ok(s) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    s = await snapshot();
  }
  return s;
}

export const MB = 1024 * 1024;
