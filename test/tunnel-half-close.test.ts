/**
 * Half-close through `curvetun tunnel` → `curvetun serve` (issue 16): a client that sends its
 * request and then shuts down its write side (`nc -N`, as HTTP/1.0-style or `printf | nc`
 * protocols do) still gets the whole reply, which the service writes only after it saw the FIN.
 * Over v2 the FIN travels as an authenticated END and comes out as a FIN at the service.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { bytes } from './helpers/fixtures.js';
import { daemon, tempDir, twoEnds } from './cli-process.js';

const LONG = 180_000; // only stops a hung command: a loaded machine starts tsx slowly

/** A service that answers only after the client's FIN: the byte count and SHA-256 of all it got. */
async function replyAfterFin() {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    const hash = createHash('sha256');
    let n = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
      hash.update(c);
    });
    s.on('end', () => s.end(`got ${n} bytes sha256 ${hash.digest('hex')}\n`));
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

function nc(port: number, input: { file?: string; text?: string }): Promise<{ code: number | null; stdout: string }> {
  const shell = input.file ? `nc -N 127.0.0.1 ${port} < '${input.file}'` : `printf '%s' '${input.text}' | nc -N 127.0.0.1 ${port}`;
  return new Promise((resolve) => {
    execFile('sh', ['-c', shell], { timeout: LONG, maxBuffer: 1 << 20 }, (error, stdout) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: stdout.toString() });
    });
  });
}

const haveNc = await new Promise<boolean>((resolve) => execFile('sh', ['-c', 'command -v nc'], (error) => resolve(!error)));
const ncTest = haveNc ? test : test.skip;
if (!haveNc) console.log('tunnel-half-close: netcat (nc, netcat-openbsd) not installed: skipped');

ncTest('printf … | nc -N through tunnel and serve (v2) gets the whole reply, written after the FIN', async (t) => {
  const dir = tempDir(t);
  const { server, client } = await twoEnds(dir);
  const service = await replyAfterFin();
  t.teardown(() => void service.server.close());
  const serve = await daemon(t, ['serve', '--listen', '127.0.0.1:0', '--forward', `127.0.0.1:${service.port}`, '--home', server], { timeoutMs: LONG });
  const tunnel = await daemon(t, ['tunnel', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${serve.port}`, '--home', client], { timeoutMs: LONG });

  const text = 'GET / HTTP/1.0';
  const small = await nc(tunnel.port, { text });
  t.is(small.code, 0);
  t.is(small.stdout, `got ${text.length} bytes sha256 ${createHash('sha256').update(text).digest('hex')}\n`);

  const payload = Buffer.from(bytes(300_000, 7));
  const file = join(dir, 'payload');
  writeFileSync(file, payload);
  const large = await nc(tunnel.port, { file });
  t.is(large.code, 0);
  t.is(large.stdout, `got ${payload.length} bytes sha256 ${createHash('sha256').update(payload).digest('hex')}\n`);
  await serve.waitFor(/closed .*reason=/, LONG);
});
