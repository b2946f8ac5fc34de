/**
 * Tracing (NODE_DEBUG=curvetun): a real handshake in a child process, v1 and v2, prints each
 * lifecycle step and handshake stage in order, and no key involved appears in any form.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);

async function traced(env: NodeJS.ProcessEnv): Promise<{ lines: string[]; keys: string[] }> {
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'test/fixtures/trace-handshake.ts'], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  const lines = stderr.split('\n').filter((line) => /^CURVETUN \d+: /.test(line));
  return { lines, keys: (JSON.parse(stdout.trim()) as { keys: string[] }).keys };
}

/** The index of each expected line fragment among `lines`, in turn after the previous one; -1 if missing. */
function inOrder(lines: string[], fragments: string[]): number[] {
  let from = 0;
  return fragments.map((fragment) => {
    const i = lines.findIndex((line, j) => j >= from && line.includes(fragment));
    if (i >= 0) from = i + 1;
    return i;
  });
}

/** The stages each version's handshake traces, in order, on each side. */
const STAGES = {
  v1: {
    client: ['handshake: hello sent', 'handshake: cookie received', 'handshake: cookie opened', 'handshake: vouch sent'],
    server: ['handshake: hello received', 'handshake: hello opened', 'handshake: cookie sent', 'handshake: vouch received', 'handshake: cookie opened and admitted once', 'handshake: vouch box opened', 'handshake: client key allowed'],
  },
  v2: {
    client: ['handshake: v2 hello sent', 'handshake: v2 cookie opened: the server holds its key', 'handshake: v2 initiate sent', 'handshake: v2 ready: the server confirmed us'],
    server: ['handshake: v2 hello received', 'handshake: v2 hello opened: the client knows our key', 'handshake: v2 cookie sent', 'handshake: v2 initiate received', 'handshake: v2 vouch verified: the client holds its key', 'handshake: v2 ready sent'],
  },
} as const;

for (const protocol of ['v1', 'v2'] as const) {
  test(`NODE_DEBUG=curvetun traces every lifecycle step and handshake stage in order, and never a key (${protocol})`, async (t) => {
    t.timeout(90_000);
    const { lines, keys } = await traced({ NODE_DEBUG: 'curvetun', TRACE_PROTOCOL: protocol });

    const client = lines.filter((line) => line.includes(': client '));
    const clientStages = ['CONNECT, ready → initiating', ...STAGES[protocol].client, 'HANDSHAKE_DONE, initiating → connected', 'CLOSE, connected → closed', 'closed (ECLOSED'];
    t.false(inOrder(client, clientStages).includes(-1), `client lines:\n${client.join('\n')}`);

    const server = lines.filter((line) => line.includes(': server '));
    const serverStages = ['ACCEPT, ready → accepting', ...STAGES[protocol].server, 'HANDSHAKE_DONE, accepting → connected', 'CLOSE, connected → closed'];
    t.false(inOrder(server, serverStages).includes(-1), `server lines:\n${server.join('\n')}`);
    if (protocol === 'v2') t.true(server.some((line) => line.includes('handshake: v2 reject sent: key-not-allowed')), 'the refusal is traced with its reason');
    t.false(inOrder(lines, ['listener: listening on', 'handshake done, queued for accept', 'listener: closed']).includes(-1));

    // Every key: long-term pairs, scramble keys, the long-term shared key, ephemeral pairs, the
    // Hello/Cookie keys and the session keys of both sides (v1), the shared points (v2). Not one,
    // in hex or base64, nor a 16-byte piece of one (a partial leak is a leak).
    t.true(keys.length >= 14, `only ${keys.length} keys recorded`);
    const text = lines.join('\n');
    const lower = text.toLowerCase(); // hex in either case
    for (const hex of keys) {
      const key = Buffer.from(hex, 'hex');
      for (const piece of [hex, key.subarray(0, 16).toString('hex'), key.subarray(16).toString('hex')]) {
        t.false(lower.includes(piece), 'a key appears in the trace (hex)');
      }
      for (const form of [key.toString('base64'), key.toString('base64url'), key.subarray(0, 15).toString('base64'), key.subarray(15, 30).toString('base64')]) {
        t.false(text.includes(form), 'a key appears in the trace (base64)');
      }
    }
  });
}

test('without NODE_DEBUG the same program prints no trace line', async (t) => {
  t.timeout(90_000);
  const { lines, keys } = await traced({ NODE_DEBUG: '' });
  t.true(keys.length >= 14); // the handshake ran
  t.deepEqual(lines, []);
});
