/**
 * The main job, in one command (`npm start`): make two identities in a temporary directory, start
 * the echo server as its own process on 127.0.0.1 trusting only the client's key, run the echo
 * client against it (a real handshake and a few round trips), and print what happened.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Home, encodePublicKeyText } from '../lib/index.js';
import { runEchoClient } from './echo-client.js';

const dir = mkdtempSync(join(tmpdir(), 'curvetun-demo-'));
const serverHome = join(dir, 'server');
const client = new Home({ home: join(dir, 'client') });
const server = new Home({ home: serverHome });
let child: ReturnType<typeof spawn> | undefined;

try {
  // The server trusts the client's key from 127.0.0.1, as an operator would add it to known_hosts.
  const clientKey = (await client.vault()).publicKey;
  await (await server.registry()).add({ who: '127.0.0.1', key: clientKey });
  await server.stop();
  console.log(`client key ${encodePublicKeyText(clientKey)} (added to the server's known_hosts for 127.0.0.1)`);

  child = spawn(process.execPath, [...process.execArgv, new URL('./echo-server.ts', import.meta.url).pathname, '--port', '0', '--home', serverHome], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<{ port: number; key: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the echo server did not start within 30 s')), 30_000);
    lines.on('line', (line) => {
      console.log(`[server] ${line}`);
      const m = /^listening \S+:(\d+) (\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), key: m[2]! });
      }
    });
    child!.once('exit', (code) => reject(new Error(`the echo server exited with ${code}`)));
  });
  const { port, key } = await ready;
  await runEchoClient({ host: '127.0.0.1', port, serverKey: key, count: 5, home: client, log: (l) => console.log(`[client] ${l}`) });
  await new Promise((r) => setTimeout(r, 100));
  console.log('demo finished: handshake, 5 round trips and a clean close over 127.0.0.1');
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  child?.kill('SIGTERM');
  await client.stop();
  rmSync(dir, { recursive: true, force: true });
}
