/**
 * The long live-server fuzz run: `npm run fuzz` (default 50 000 hostile connections), or
 * `npm run fuzz -- <cases> [parallel] [seed]`. Exits non-zero if any property fails.
 */
import { runLiveFuzz } from '../test/helpers/fuzz.js';

const total = Number(process.argv[2] ?? 50_000);
const parallel = Number(process.argv[3] ?? 8);
const seed = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
const started = Date.now();
const share = (f: number) => Math.max(parallel, Math.round(total * f));
const report = await runLiveFuzz({
  runs: { hello: share(0.45), vouch: share(0.3), connected: share(0.25) },
  parallel,
  ...(seed !== undefined ? { seed } : {}),
  log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
});
console.log(JSON.stringify(report, null, 2));
const bad = report.leftOpen + report.wronglyAccepted + report.wronglyDelivered + report.untyped + report.secretLeaks;
process.exit(bad === 0 ? 0 : 1);
