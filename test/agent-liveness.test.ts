/**
 * A gateway that freezes (SIGSTOP: its TCP connections stay open, nothing answers) as processes:
 * an agent with --idle-timeout (v2 pings a quiet peer first) ends the dead connection itself
 * (ETIMEDOUT), keeps redialling, and is served again once the gateway runs again (SIGCONT).
 * Outcomes and order only; the deadlines are generous.
 */
import { join } from 'node:path';
import test from 'ava';
import { daemon, run, tempDir, twoEnds } from './cli-process.js';
import { echoTarget, roundTrip } from './helpers/agent.js';

test('an agent with --idle-timeout notices a frozen gateway (ETIMEDOUT), redials, and is served again when it thaws', async (t) => {
  t.timeout(900_000);
  const dir = tempDir(t);
  const echo = await echoTarget();
  t.teardown(() => echo.close());
  const { server: gatewayHome, client: agentHome } = await twoEnds(dir, { names: ['gateway', 'agent'], clientComment: 'live-agent' });

  const gateway = await daemon(t, ['gateway', '--listen', '127.0.0.1:0', '--expose', `127.0.0.1:0=live-agent:127.0.0.1:${echo.port}`, '--home', gatewayHome]);
  const port = Number(/\bexposing address=\S*:(\d+)/.exec(await gateway.waitFor(/\bexposing address=/))![1]);
  const agent = await daemon(t, ['agent', '--to', `127.0.0.1:${gateway.port}`, '--allow', '127.0.0.1', '--idle-timeout', '4', '--timeout', '5000', '--home', agentHome], {
    ready: /\binfo connected to=/,
  });
  await gateway.waitFor('agent_connected agent=live-agent');
  t.is((await roundTrip(port, Buffer.from('before'))).toString(), 'before');

  // Frozen: the connection is still open, but nothing answers the agent's pings any more.
  let mark = agent.mark();
  gateway.child.kill('SIGSTOP');
  t.teardown(() => void gateway.child.kill('SIGCONT'));
  await agent.waitFor(/warn disconnected to=\S+ code=ETIMEDOUT /, 300_000, mark);

  // Thawed: the agent's next attempt gets through and the gateway serves it again.
  mark = agent.mark();
  const gatewayMark = gateway.mark();
  gateway.child.kill('SIGCONT');
  await agent.waitFor(/\binfo connected to=/, 300_000, mark);
  await gateway.waitFor('agent_connected agent=live-agent', 300_000, gatewayMark);
  t.is((await roundTrip(port, Buffer.from('after'))).toString(), 'after');
});
