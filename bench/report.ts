/**
 * What every benchmark writes down beside its figures (machine, load, versions) and where: a JSON
 * record under bench/results/ and, for full runs, its own section of bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export function machineLine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export function machineRecord() {
  return { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: totalmem() / 2 ** 30, node: process.version, platform: process.platform };
}

/** The installed version of an npm package, or 'absent'. */
export function packageVersion(pkg: string): string {
  try {
    return JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return 'absent';
  }
}

/** The first line a command prints for `args` (e.g. `--version`), or 'absent'. */
export function toolVersion(file: string, args: string[]): string {
  try {
    const out = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    return out.trim().split('\n')[0] ?? '';
  } catch (error) {
    // Some tools (stunnel -version) print to stderr and exit non-zero.
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    return stderr ? stderr.split('\n')[0]! : 'absent';
  }
}

/** How this run was started, for the record: the npm script and the options given to it. */
export function commandLine(script: string): string {
  const options = process.argv.slice(2);
  return options.length > 0 ? `${script} -- ${options.join(' ')}` : script;
}

/** Other work on the machine skews every figure: the 1-minute load before and after is kept. */
export class RunRecord {
  readonly started = Date.now();
  readonly loadBefore = loadavg();

  constructor(readonly command: string, readonly quick: boolean) {}

  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  footer(ratios: string): string {
    const date = new Date(this.started).toISOString();
    return `${machineLine()}; \`${this.command}\`, ${this.seconds().toFixed(0)} s, ${date}. ${ratios} Load average (1 min) ${this.loadBefore[0]!.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after.`;
  }

  /** The JSON record: date, command, load, machine, then the benchmark's own fields. */
  write(name: string, fields: Record<string, unknown>): void {
    const report = {
      date: new Date(this.started).toISOString(),
      command: this.command,
      quick: this.quick,
      seconds: this.seconds(),
      loadAverage: { before: this.loadBefore, after: loadavg() },
      machine: machineRecord(),
      ...fields,
    };
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(new URL(`./results/${name}${this.quick ? '-quick' : ''}.json`, import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
  }
}

/**
 * Replace the generated section `name` of bench/RESULTS.md (between its two marker comments) with
 * `body`; a section not there yet goes before the hand-written '## Notes', which runs never touch.
 */
export function updateResults(name: string, body: string): void {
  const file = new URL('./RESULTS.md', import.meta.url);
  const begin = `<!-- ${name}: written by each full run -->`;
  const end = `<!-- end of ${name} -->`;
  const section = `${begin}\n${body}\n${end}`;
  let text = '# Benchmark results\n';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // first run
  }
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) text = text.slice(0, from) + section + text.slice(to + end.length);
  else {
    const notes = text.indexOf('\n## Notes');
    text = notes >= 0 ? `${text.slice(0, notes)}\n${section}\n${text.slice(notes)}` : `${text.trimEnd()}\n\n${section}\n`;
  }
  writeFileSync(file, text);
}
