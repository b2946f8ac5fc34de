/**
 * Live-server fuzzing (issue 7, part 1): random, truncated, mutated and misplaced packets against a
 * real listener over loopback TCP, for each handshake state. `npm run fuzz` runs the long version.
 */
import test from 'ava';
import { runLiveFuzz } from './helpers/fuzz.js';

test('fuzzing every handshake state: each bad peer is closed alone, a good client keeps working, heap stays bounded', async (t) => {
  t.timeout(110_000);
  const report = await runLiveFuzz({ runs: { hello: Number(process.env.FZ_H ?? 2_400), vouch: Number(process.env.FZ_V ?? 1_400), connected: Number(process.env.FZ_C ?? 1_200) }, parallel: 4, log: (l) => t.log(l) });
  t.log(JSON.stringify(report));
  const total = report.cases.hello + report.cases.vouch + report.cases.connected;
  t.true(total >= 5_000, `${total} cases`);
  t.is(report.leftOpen, 0, 'a complete bad frame must close its connection at once');
  t.is(report.wronglyAccepted, 0, 'no hostile handshake may complete');
  t.is(report.wronglyDelivered, 0, 'no hostile message may reach the application');
  t.is(report.untyped, 0, 'every failure is a CurvetunError');
  t.is(report.secretLeaks, 0, 'no error message carries the secret or scramble key');
  // Every hostile connection ended on the server with a known code (+1: the sample connection).
  const codes = Object.keys(report.serverCodes);
  t.deepEqual(codes.filter((c) => !['EPROTO', 'EAUTH', 'ECLOSED'].includes(c)), []);
  const ended = Object.values(report.serverCodes).reduce((a, b) => a + b, 0);
  t.is(ended, total + 1);
  t.true((report.serverCodes.EPROTO ?? 0) > 0 && (report.serverCodes.EAUTH ?? 0) > 0);
  t.true(report.goodEchoes > total / 4, 'the good client was served after every batch');
  t.true(report.heapAfterMB - report.heapBeforeMB < 16, `heap ${report.heapBeforeMB.toFixed(1)} → ${report.heapAfterMB.toFixed(1)} MB`);
});
