/**
 * CPU per handshake, both sides in one process over loopback TCP (in-process vaults and cookie
 * keeper, so no worker's CPU is missed): protocol v1, v2 classical and v2 hybrid, one backend.
 * Sequential handshakes; the figure is process CPU time (user + system) per handshake.
 * Run: npx tsx bench/handshake-cpu.ts [backend] [handshakes]
 */
import { LocalCookieKeeper, LocalVault, connect, listen } from '../lib/index.js';
import type { BackendName } from '../lib/crypto/index.js';
import { availableBackends } from '../lib/crypto/index.js';

const backend = (process.argv[2] ?? availableBackends()[0]!) as BackendName;
const count = Number(process.argv[3] ?? 200);
const serverVault = LocalVault.generate({ crypto: backend });
const clientVault = LocalVault.generate({ crypto: backend });
const cookies = new LocalCookieKeeper({ crypto: backend, guardSize: 1 << 20 });
const listener = await listen(0, { vault: serverVault, cookies, acceptAnyClient: true, crypto: backend, backlog: 100_000 });
void (async () => {
  for await (const socket of listener) void socket.close();
})();

const cases = [
  { name: 'v1', options: { protocol: 'v1' as const } },
  { name: 'v2 classical', options: { protocol: 'v2' as const, postQuantum: false } },
  { name: 'v2 hybrid (ML-KEM-768)', options: { protocol: 'v2' as const, postQuantum: true } },
];
const rows: Record<string, string>[] = [];
for (const c of cases) {
  const once = async () => {
    const socket = await connect('127.0.0.1', listener.address().port, { vault: clientVault, serverKey: listener.publicKey, crypto: backend, timeout: 30_000, ...c.options });
    await socket.close();
  };
  for (let i = 0; i < 20; i++) await once(); // warm-up: JIT
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) await once();
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - start;
  rows.push({
    protocol: c.name,
    'CPU µs / handshake (both sides)': ((used.user + used.system) / count).toFixed(0),
    'wall ms / handshake': (wall / count).toFixed(2),
  });
}
console.log(`backend ${backend}, ${count} sequential handshakes per case`);
console.table(rows);
await listener.close();
await cookies.close();
