/** Benchmark server process: `server.ts <transport> <backend> <sink|echo>`; controlled over IPC. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './transports.js';
import type { Backend, TransportName } from './transports.js';

const [transport, backend, mode] = process.argv.slice(2) as [TransportName, Backend, string];
const home = mkdtempSync(join(tmpdir(), 'curvetun-bench-server-'));
const echo = { on: mode === 'echo' };
const server = await startServer(transport, backend, echo, home);
const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', async (msg: { cmd: string }) => {
  switch (msg.cmd) {
    case 'stats':
      process.send!({ ...server.counters, connections: server.connections });
      break;
    case 'cpu': {
      // All threads of this process (main and workers), user + system, µs.
      const { user, system } = process.cpuUsage();
      process.send!({ us: user + system, connections: server.connections });
      break;
    }
    case 'echo':
      echo.on = true;
      process.send!({ ok: true });
      break;
    case 'reset':
      Object.assign(server.counters, { bytes: 0, messages: 0, first: 0, last: 0 });
      process.send!({ ok: true });
      break;
    case 'mem': {
      // Collect until the heap stops shrinking (bounded): one more connection is ~1-5 KB, so a
      // collection still under way would swamp it.
      const heapOf = (u: NodeJS.MemoryUsage) => u.heapUsed + u.external + u.arrayBuffers;
      let m = process.memoryUsage();
      for (let i = 0; i < 8; i++) {
        gc?.();
        await new Promise((r) => setTimeout(r, 50));
        const next = process.memoryUsage();
        const settledHeap = i >= 2 && Math.abs(heapOf(next) - heapOf(m)) < 16_384;
        m = next;
        if (settledHeap) break;
      }
      process.send!({ heap: heapOf(m), rss: m.rss, connections: server.connections });
      break;
    }
    case 'exit':
      await server.close().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
      process.exit(0);
  }
});
process.send!({ port: server.port, key: server.key });
