/**
 * The full soak: `npm run soak` (100 connections × 1 000 messages), or
 * `npm run soak -- <connections> <messages>`. Exits non-zero on a wrong byte or a leak.
 */
import { ioHandles } from '../test/helpers/resources.js';
import { runSoak } from '../test/helpers/soak.js';

const connections = Number(process.argv[2] ?? 100);
const messages = Number(process.argv[3] ?? 1_000);
const started = Date.now();
const r = await runSoak({ connections, messages, log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`) });
const leak = ioHandles(r.after) > ioHandles(r.baseline) || r.after.fds > r.baseline.fds || r.heapGrowthMB > 16;
console.log(
  JSON.stringify(
    {
      messages: r.messages,
      mib: Math.round(r.bytes / 2 ** 20),
      seconds: r.ms / 1000,
      mibPerSecond: Number(r.mbPerSecond.toFixed(1)),
      fds: [r.baseline.fds, r.during.fds, r.after.fds],
      sockets: [ioHandles(r.baseline), ioHandles(r.during), ioHandles(r.after)],
      heapMiB: [r.baseline.heapUsed, r.during.heapUsed, r.after.heapUsed].map((h) => Number((h / 2 ** 20).toFixed(1))),
      leak,
    },
    null,
    2,
  ),
);
process.exit(leak ? 1 : 0);
