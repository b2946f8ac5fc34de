/**
 * Which worker of `--workers` this process is (cli/workers.ts forks them and sets the number), and
 * the orders its primary sends it over the cluster channel (cli/signals.ts obeys them).
 */
import cluster from 'node:cluster';

/** The variable that tells a worker its number (1 to N). */
export const WORKER_ENV = 'CURVETUN_WORKER';

/** In a worker that a primary started: its number; else null. */
export function workerNumber(env: NodeJS.ProcessEnv = process.env): number | null {
  if (!cluster.isWorker) return null;
  const n = Number(env[WORKER_ENV]);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** The fields every log line of a worker carries. */
export function workerFields(): { worker?: number } {
  const n = workerNumber();
  return n === null ? {} : { worker: n };
}

/** What the primary tells a worker: the signal it got, and what it means for the worker. */
export interface PrimaryOrder {
  curvetun: 'order';
  order: 'stop' | 'hurry' | 'reload';
  signal: string;
}

export function isPrimaryOrder(message: unknown): message is PrimaryOrder {
  const m = message as Partial<PrimaryOrder> | null;
  return typeof m === 'object' && m !== null && m.curvetun === 'order' && (m.order === 'stop' || m.order === 'hurry' || m.order === 'reload') && typeof m.signal === 'string';
}
