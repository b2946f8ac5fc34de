/**
 * The package as a user gets it, outside the repository: a clean copy of the working tree (what
 * `git ls-files` holds, committed into a fresh git repository) is packed with `npm pack` (which
 * builds dist/ through `prepare`) and installed from the tarball into a temporary project with
 * `npm install`. Then, with plain node: `import` and `require` of it with a real loopback
 * handshake, the installed `curvetun` bin, what the tarball ships (links and source maps resolve),
 * the declarations type-checked by a strict consumer (three module resolutions), the README's
 * examples run as written, and `npm install git+file://…` of the clean repository.
 *
 * Needs npm to reach its registry for the dependencies (cached packages are used first); skipped,
 * with the reason, when it cannot or when git is missing.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect } from '../lib/api.js';
import { loadPublicKeyFile } from '../lib/keys/keyfile.js';
import { LocalVault } from '../lib/vault/index.js';
import { ROOT } from './cli-process.js';
import { handshakeScript } from './helpers/handshake-script.js';

const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function why(): string | null {
  if (spawnSync('git', ['--version']).status !== 0) return 'git is not installed';
  const ping = spawnSync('npm', ['ping'], { encoding: 'utf8', timeout: 60_000 });
  if (ping.status !== 0) return `npm cannot reach its registry (npm ping: ${(ping.stderr || ping.error?.message || 'no answer').trim().split('\n')[0]})`;
  return null;
}
const skipReason = why();
const packaged = skipReason ? test.skip : test.serial;
if (skipReason) {
  test('packaging', (t) => {
    t.log(`skipped: ${skipReason}`);
    t.pass();
  });
}

interface Installed {
  work: string;
  /** The clean git repository the tarball was packed from. */
  repo: string;
  tarball: string;
  /** The temporary project with the tarball installed. */
  app: string;
  pkg: string;
}

let installing: Promise<Installed> | null = null;

function sh(command: string, args: string[], cwd: string, timeout = 600_000): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** Copy, commit, pack and install once for every test of this file. */
function installed(): Promise<Installed> {
  installing ??= (async () => {
    const work = mkdtempSync(join(tmpdir(), 'curvetun-package-'));
    const repo = join(work, 'repo');
    // What a fresh clone holds: the tracked files as they are now, plus new ones not ignored.
    const files = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT).split('\0').filter((f) => f && existsSync(join(ROOT, f)));
    for (const file of files) {
      mkdirSync(dirname(join(repo, file)), { recursive: true });
      cpSync(join(ROOT, file), join(repo, file));
    }
    sh('git', ['init', '-q'], repo);
    sh('git', ['add', '-A'], repo);
    sh('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', 'commit', '-qm', 'clean copy'], repo);
    // Building needs the dev dependencies; borrowing ours keeps the test off the network for them.
    // (The git install below installs its own.)
    symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'), 'dir');
    const tarballName = sh('npm', ['pack', '--silent', '--pack-destination', work, ...NPM_FLAGS], repo).trim().split('\n').pop()!;
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, version: '1.0.0' }, null, 2));
    sh('npm', ['install', join(work, tarballName), ...NPM_FLAGS], app);
    return { work, repo, tarball: join(work, tarballName), app, pkg: join(app, 'node_modules', 'curvetun') };
  })();
  return installing;
}

test.after.always(async () => {
  if (!installing) return;
  const { work } = await installing.catch(() => ({ work: '' }));
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Run `node file` in `cwd`; resolves with what it printed and how it exited. */
function node(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 120_000) {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NODE_OPTIONS: '', ...env } });
}

packaged('import (ESM) and require (CommonJS) of the installed package: a real loopback handshake, and the process exits by itself', async (t) => {
  t.timeout(900_000);
  const { app, pkg } = await installed();
  t.false(existsSync(join(pkg, 'node_modules', 'typescript')), 'no dev dependency came along');
  writeFileSync(join(app, 'esm.mjs'), handshakeScript(`import { WorkerVault, openRegistry, listen, connect, fingerprint } from 'curvetun';`, 'through the installed package'));
  // require(esm) is on by default from Node 20.19 (package.json engines); the handshake script
  // needs await, so it runs inside an async function of the CommonJS module.
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const { WorkerVault, openRegistry, listen, connect, fingerprint } = require('curvetun');\n(async () => {\n${handshakeScript('', 'through the installed package')}\n})().catch((e) => { console.error(e); process.exit(1); });\n`,
  );
  for (const script of ['esm.mjs', 'cjs.cjs']) {
    const dir = mkdtempSync(join(app, 'keys-'));
    const result = node([script, dir], app);
    t.is(result.signal, null, `${script}: the process had to be killed`);
    t.is(result.status, 0, `${script}: ${result.stderr}`);
    t.is(result.stdout.trim(), 'through the installed package true', script);
    t.is(result.stderr, '', `${script} printed warnings`);
  }
});

packaged('the installed curvetun bin: --help, --version, keygen and fingerprint', async (t) => {
  t.timeout(900_000);
  const { app } = await installed();
  const bin = join(app, 'node_modules', '.bin', 'curvetun');
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 60_000 });
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^curvetun: encrypted, mutually authenticated tunnels/);
  for (const command of ['serve', 'tunnel', 'fingerprint', 'registry']) t.true(help.stdout.includes(command));
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  t.is(version.status, 0);
  t.is(version.stdout.trim(), `curvetun ${VERSION}`);
  const home = join(app, 'home');
  const made = spawnSync(bin, ['keygen', '--home', home, '--comment', 'installed'], { encoding: 'utf8', timeout: 60_000 });
  t.is(made.status, 0, made.stderr);
  const fp = spawnSync(bin, ['fingerprint', '--home', home], { encoding: 'utf8', timeout: 60_000 });
  t.regex(fp.stdout, /^SHA256:[A-Za-z0-9+/]{43} installed\n$/);
  t.true(made.stderr.includes(fp.stdout.split(' ')[0]!));
});

packaged('the tarball ships what the README points at: LICENSE, SECURITY.md, docs, sources for the source maps; links resolve; nothing of the repository\'s own', async (t) => {
  t.timeout(900_000);
  const { pkg } = await installed();
  const all: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else {
        all.push(relative(pkg, path));
      }
    }
  };
  walk(pkg);
  const files = new Set(all);
  for (const needed of ['LICENSE', 'README.md', 'SECURITY.md', 'PROTOCOL.md', 'IMPLEMENTATION.md', 'docs/systemd.md', 'docs/registry.md', 'lib/connection/options.ts', 'lib/vault/types.ts', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/bin/curvetun.js']) {
    t.true(files.has(needed), `${needed} is not in the package`);
  }
  t.regex(readFileSync(join(pkg, 'LICENSE'), 'utf8'), /^MIT License/);
  for (const file of all) t.false(/^(test|bench|scripts|examples|\.ci)\//.test(file), `${file} should not ship`);
  // Every source map names sources that ship.
  for (const map of all.filter((f) => f.endsWith('.map'))) {
    const { sources } = JSON.parse(readFileSync(join(pkg, map), 'utf8')) as { sources: string[] };
    for (const source of sources) t.true(existsSync(resolve(pkg, dirname(map), source)), `${map} points at ${source}, which does not ship`);
  }
  // Every relative link of every shipped Markdown file resolves inside the package.
  for (const doc of all.filter((f) => f.endsWith('.md'))) {
    for (const [, target] of readFileSync(join(pkg, doc), 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      t.true(existsSync(resolve(pkg, dirname(doc), target!)), `${doc} links to ${target}, which does not ship`);
    }
  }
});

const STRICT = {
  target: 'ES2022',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  noPropertyAccessFromIndexSignature: true,
  skipLibCheck: false,
  noEmit: true,
};

const CONSUMER = `import { listen, connect, fingerprint, CurvetunError, isCurvetunError, openRegistry, WorkerVault } from 'curvetun';
import type { ListenOptions, ConnectOptions, CurvetunSocket, HandshakeReport, Listener, RegistryEntry, ErrorCode } from 'curvetun';

const options: ListenOptions = { host: '127.0.0.1', acceptAnyClient: true, closeRevoked: false };
const listener: Listener = await listen(0, options);
listener.on('handshake', (report: HandshakeReport) => {
  const who: string = report.peerKey ? fingerprint(report.peerKey) : 'no key yet';
  const failed: ErrorCode | undefined = report.error?.code;
  console.log(who, failed, report.durationMs, report.keyRefused);
});
const connectOptions: ConnectOptions = { serverKey: listener.publicKey, timeout: 5000 };
const socket: CurvetunSocket = await connect('127.0.0.1', listener.address().port, connectOptions);
try {
  await socket.send('hello');
  const reply: Uint8Array = await socket.recv({ timeout: 1000 });
  console.log(reply.byteLength, socket.peerKey.length, socket.closeReason?.code);
} catch (error) {
  if (isCurvetunError(error) && error.code === 'ETIMEDOUT') console.log('no reply');
  if (error instanceof CurvetunError) console.log(error.code);
}
const registry = await openRegistry({ file: 'known_hosts', create: true });
const entries: RegistryEntry[] = await registry.list();
const added: boolean = await registry.add({ who: '127.0.0.1', key: (await WorkerVault.open({ secretKeyFile: 'k', create: true })).publicKey });
console.log(entries.length, added, await listener.reverify());
`;

packaged('the declarations satisfy a strict consumer (skipLibCheck false, exactOptionalPropertyTypes, noUncheckedIndexedAccess) with node16, nodenext and bundler resolution; no xstate, no private members', async (t) => {
  t.timeout(900_000);
  const { app, pkg } = await installed();
  const declarations = publicDeclarations(pkg);
  t.true(declarations.length > 10);
  for (const file of declarations) {
    const text = readFileSync(file, 'utf8');
    t.false(/from 'xstate'|import\("xstate"\)/.test(text), `${relative(pkg, file)} refers to xstate's types`);
    t.false(/^\s+private (?!constructor\()/m.test(text), `${relative(pkg, file)} lists private members`);
  }
  // The consumer's own dev dependencies: TypeScript and Node's types, borrowed from the repository.
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  if (!existsSync(join(app, 'node_modules', '@types', 'node'))) symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'), 'dir');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const examples = readmeExamples(readFileSync(join(pkg, 'README.md'), 'utf8'));
  for (const [mode, extra] of [
    ['nodenext', { module: 'NodeNext', moduleResolution: 'NodeNext' }],
    ['node16', { module: 'Node16', moduleResolution: 'Node16' }],
    ['bundler', { module: 'ESNext', moduleResolution: 'Bundler' }],
  ] as const) {
    const dir = join(app, `types-${mode}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
    // The README's examples type-check as TypeScript too.
    for (const [name, code] of examples) writeFileSync(join(dir, name.replace(/\.mjs$/, '.ts')), code);
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT, ...extra }, include: ['*.ts'] }, null, 2));
    const result = node([tsc, '-p', dir], dir, {}, 300_000);
    t.is(result.status, 0, `${mode}: ${result.stdout}${result.stderr}`);
  }
});

/** The .d.ts files a user's compiler reads: those of package.json's exports and what they import. */
function publicDeclarations(pkg: string): string[] {
  const { exports } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string } | string> };
  const queue = Object.values(exports).flatMap((e) => (typeof e === 'object' && e.types ? [resolve(pkg, e.types)] : []));
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, a, b] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'|import\("(\.[^"]+)"\)/g)) {
      queue.push(resolve(dirname(file), (a ?? b)!.replace(/\.js$/, '.d.ts')));
    }
  }
  return [...seen];
}

/** The README's marked examples: `<!-- example: NAME -->` right before a fenced block. */
function readmeExamples(readme: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [, name, code] of readme.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)) out.set(name!, `${code}\n`);
  return out;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function untilListening(port: number, exited: () => boolean): Promise<void> {
  for (let i = 0; i < 2400 && !exited(); i++) {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    socket.destroy();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

packaged("the README's examples run as written (only the port is changed): the server serves a second client while the first stays connected", async (t: ExecutionContext) => {
  t.timeout(900_000);
  const { app, pkg } = await installed();
  const examples = readmeExamples(readFileSync(join(pkg, 'README.md'), 'utf8'));
  t.deepEqual([...examples.keys()].sort(), ['client.mjs', 'server.mjs', 'vault.mjs']);
  const port = await freePort();
  const dir = join(app, 'readme');
  mkdirSync(dir);
  // The server and its client share a port; the vault example listens on its own.
  const vaultPort = await freePort();
  for (const [name, code] of examples) writeFileSync(join(dir, name), code.replaceAll('7000', String(name === 'vault.mjs' ? vaultPort : port)));
  // Two identities, each knowing the other, made with the installed command.
  const bin = join(app, 'node_modules', '.bin', 'curvetun');
  const serverHome = join(dir, 'server-home');
  const clientHome = join(dir, 'client-home');
  for (const [home, other] of [[serverHome, clientHome], [clientHome, serverHome]] as const) {
    for (const h of [home, other]) if (!existsSync(join(h, 'id_curvetun'))) execFileSync(bin, ['keygen', '--home', h], { stdio: 'pipe' });
    execFileSync(bin, ['registry', 'add', '127.0.0.1', join(other, 'id_curvetun.pub'), '--home', home], { stdio: 'pipe' });
  }
  const server = spawn(process.execPath, ['server.mjs'], { cwd: dir, env: { ...process.env, CURVETUN_HOME: serverHome } });
  let serverErr = '';
  server.stderr.on('data', (c: Buffer) => (serverErr += c.toString()));
  t.teardown(() => void server.kill('SIGKILL'));
  await untilListening(port, () => server.exitCode !== null);

  // A first client connects and stays, saying nothing.
  const vault = await LocalVault.open({ secretKeyFile: join(clientHome, 'id_curvetun') });
  t.teardown(() => vault.close());
  const first = await connect('127.0.0.1', port, { vault, serverKey: loadPublicKeyFile(join(serverHome, 'id_curvetun.pub')), timeout: 20_000 });
  t.teardown(() => first.close());
  // The README's client, meanwhile, gets its answer.
  const client = node(['client.mjs'], dir, { CURVETUN_HOME: clientHome });
  t.is(client.status, 0, `${client.stderr}\nserver: ${serverErr}`);
  t.is(client.stdout, 'ping\n');
  await first.send('and the first one too');
  t.is(new TextDecoder().decode(await first.recv({ timeout: 20_000 })), 'and the first one too');

  const vaultExample = node(['vault.mjs'], dir, { CURVETUN_HOME: join(dir, 'vault-home') });
  t.is(vaultExample.status, 0, vaultExample.stderr);
  t.regex(vaultExample.stdout, /^listening with the key SHA256:[A-Za-z0-9+/]{43}\n$/);
  t.true(existsSync(join(dir, 'id_curvetun')), 'the example made its key file where it said');
});

packaged('npm install git+file:// of the clean repository builds dist/ (prepare) and works', async (t) => {
  t.timeout(900_000);
  const { work, repo } = await installed();
  const app = join(work, 'git-app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'git-app', private: true, version: '1.0.0' }, null, 2));
  sh('npm', ['install', `git+file://${repo}`, ...NPM_FLAGS], app, 900_000);
  const pkg = join(app, 'node_modules', 'curvetun');
  t.true(existsSync(join(pkg, 'dist', 'lib', 'index.js')), 'prepare did not build dist/');
  writeFileSync(join(app, 'check.mjs'), `import { listen, fingerprint } from 'curvetun';\nconst l = await listen(0, { acceptAnyClient: true });\nconsole.log(fingerprint(l.publicKey).slice(0, 7));\nawait l.close();\n`);
  const result = node(['check.mjs'], app, { CURVETUN_HOME: join(app, 'home') });
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout, 'SHA256:\n');
  const version = spawnSync(join(app, 'node_modules', '.bin', 'curvetun'), ['--version'], { encoding: 'utf8', timeout: 60_000 });
  t.is(version.stdout.trim(), `curvetun ${VERSION}`);
});
