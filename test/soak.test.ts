/**
 * Soak, bounded for the normal test run (issue 7, part 6): 20 connections × 200 messages of random
 * sizes (0–65 503 bytes), every byte checked, then heap, sockets and file descriptors back to the
 * baseline. `npm run soak` runs the full 100 × 1 000.
 */
import test from 'ava';
import { ioHandles } from './helpers/resources.js';
import { runSoak } from './helpers/soak.js';

test('20 connections × 200 random-size messages: every byte echoed intact; heap, handles and fds return to the baseline', async (t) => {
  t.timeout(110_000);
  const r = await runSoak({ connections: 20, messages: 200, log: (l) => t.log(l) });
  t.log(
    `${r.messages} messages, ${(r.bytes / 2 ** 20).toFixed(0)} MiB each way in ${r.ms} ms (${r.mbPerSecond.toFixed(1)} MiB/s echoed); ` +
      `fds ${r.baseline.fds} → ${r.during.fds} → ${r.after.fds}; sockets ${ioHandles(r.baseline)} → ${ioHandles(r.during)} → ${ioHandles(r.after)}; ` +
      `heap ${(r.baseline.heapUsed / 2 ** 20).toFixed(1)} → ${(r.after.heapUsed / 2 ** 20).toFixed(1)} MiB`,
  );
  t.is(r.messages, 4_000);
  t.true(r.bytes > 4_000 * 20_000, 'sizes spread over the range');
  t.true(ioHandles(r.during) >= 40, 'the connections were really open during the run');
  t.true(ioHandles(r.after) <= ioHandles(r.baseline), 'every socket closed');
  t.true(r.after.fds <= r.baseline.fds, 'every file descriptor released');
  t.true(r.heapGrowthMB < 8, `heap grew by ${r.heapGrowthMB.toFixed(1)} MiB`);
});
