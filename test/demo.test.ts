/**
 * The main job, as a user runs it: `npm start` (examples/demo.ts) starts the echo server as its own
 * process and runs the client against it over 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import test from 'ava';

test('the demo does a real handshake and five echoed round trips, then exits cleanly', (t) => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], { encoding: 'utf8', timeout: 60_000 });
  t.is(run.status, 0, run.stderr);
  const out = run.stdout;
  const serverKey = /\[server\] listening 127\.0\.0\.1:\d+ (\S+)/.exec(out)?.[1];
  const clientKey = /^client key (\S+) /m.exec(out)?.[1];
  t.truthy(serverKey);
  t.truthy(clientKey);
  // Each side learned the other's long-term key from the handshake itself.
  t.regex(out, new RegExp(`\\[client\\] handshake with .* server key ${escape(serverKey!)}`));
  t.regex(out, new RegExp(`\\[server\\] connected 127\\.0\\.0\\.1:\\d+ key ${escape(clientKey!)}`));
  for (let i = 1; i <= 5; i++) t.regex(out, new RegExp(`echoed "message ${i} of 5"`));
  t.regex(out, /after 5 messages/);
  t.regex(out, /demo finished/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
