/**
 * The functions that used the most time in V8 CPU profiles (`--cpu-prof`, e.g. from
 * BENCH_PROFILE=<dir> with bench/scenario.ts or bench/tunnel.ts), self time first:
 *
 *   npx tsx bench/profile-top.ts <file.cpuprofile>… [--top=25]
 *
 * Each file is summed on its own (one per thread); '(idle)' is time the thread slept.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice('--top='.length) ?? 25);
for (const file of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${frame.url.replace(/^.*\/(lib|bin|bench|node_modules)\//, '$1/')}:${frame.lineNumber + 1}` : '';
    const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  const idle = self.get('(idle)') ?? 0;
  console.log(`\n${basename(file)}: ${(total / 1000).toFixed(0)} ms sampled, ${(100 * (1 - idle / total)).toFixed(0)} % busy`);
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, us] of rows) console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`);
}
