/**
 * Reading Stryker's JSON reports for `npm run mutate`: counts per file, survivors with their place
 * and change, matched against the explained ones.
 */
import { EXPLAINED } from './explained.js';

interface Position {
  line: number;
  column: number;
}

export interface StrykerReport {
  files: Record<string, { source: string; mutants: { mutatorName: string; replacement?: string; status: string; location: { start: Position; end: Position } }[] }>;
}

export interface Survivor {
  at: string;
  mutator: string;
  original: string;
  replacement: string;
  /** Why it cannot be killed, when scripts/mutate/explained.ts says so. */
  reason?: string;
}

export interface FileResult {
  file: string;
  seconds: number;
  failed?: boolean;
  /** Mutants per Stryker status: Killed, Timeout, Survived, NoCoverage, CompileError, RuntimeError, Ignored. */
  counts: Record<string, number>;
  survivors: Survivor[];
}

/** The source text between two 1-based positions (Stryker's report convention). */
function textAt(source: string, start: Position, end: Position): string {
  const lines = source.split('\n');
  if (start.line === end.line) return lines[start.line - 1]!.slice(start.column - 1, end.column - 1);
  const middle = lines.slice(start.line, end.line - 1);
  return [lines[start.line - 1]!.slice(start.column - 1), ...middle, lines[end.line - 1]!.slice(0, end.column - 1)].join('\n');
}

const oneLine = (text: string, max = 90) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export function summarize(file: string, report: StrykerReport, seconds: number): FileResult {
  const counts: Record<string, number> = {};
  const survivors: Survivor[] = [];
  for (const [path, entry] of Object.entries(report.files)) {
    for (const m of entry.mutants) {
      counts[m.status] = (counts[m.status] ?? 0) + 1;
      if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
      const original = textAt(entry.source, m.location.start, m.location.end);
      const replacement = m.replacement ?? '';
      const line = entry.source.split('\n')[m.location.start.line - 1] ?? '';
      const explained = EXPLAINED.find(
        (e) => e.file === file && e.mutator === m.mutatorName && e.original === original && e.replacement === replacement && (e.onLine === undefined || line.includes(e.onLine)),
      );
      survivors.push({
        at: `${path}:${m.location.start.line}:${m.location.start.column}`,
        mutator: m.mutatorName,
        original,
        replacement,
        ...(explained ? { reason: explained.reason } : {}),
      });
    }
  }
  return { file, seconds, counts, survivors };
}

const n = (r: FileResult, ...statuses: string[]) => statuses.reduce((sum, s) => sum + (r.counts[s] ?? 0), 0);

/** Prints the table and every survivor; returns how many survivors are unexplained. */
export function printSummary(results: FileResult[], seconds: number): number {
  console.log('\nmutate: results (killed includes mutants that made the tests time out)');
  console.log(['file'.padEnd(30), 'killed', 'survived', 'explained', 'not compiled', 'ignored', 'time'].join('  '));
  for (const r of results) {
    if (r.failed) {
      console.log(`${r.file.padEnd(30)}  FAILED (see above)`);
      continue;
    }
    const explained = r.survivors.filter((s) => s.reason).length;
    console.log(
      [
        r.file.padEnd(30),
        String(n(r, 'Killed', 'Timeout')).padStart(6),
        String(r.survivors.length).padStart(8),
        String(explained).padStart(9),
        String(n(r, 'CompileError', 'RuntimeError')).padStart(12),
        String(n(r, 'Ignored')).padStart(7),
        `${r.seconds.toFixed(0)} s`.padStart(6),
      ].join('  '),
    );
  }
  let unexplained = 0;
  for (const r of results) {
    for (const s of r.survivors) {
      if (!s.reason) unexplained++;
      console.log(`${s.reason ? '  explained ' : 'UNEXPLAINED '} ${s.at} ${s.mutator}: \`${oneLine(s.original)}\` -> \`${oneLine(s.replacement)}\`${s.reason ? `\n             ${s.reason}` : ''}`);
    }
  }
  console.log(`mutate: ${unexplained} unexplained survivor(s); ${(seconds / 60).toFixed(1)} min in all`);
  return unexplained;
}

/** The same as a Markdown table and list, for SECURITY.md. */
export function printMarkdown(results: FileResult[], seconds: number): void {
  console.log('\n| file | mutants run | killed | survived (all explained below) | not compiled | message text, not mutated | time |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.failed) continue;
    const ran = n(r, 'Killed', 'Timeout', 'Survived', 'NoCoverage');
    console.log(`| \`${r.file}\` | ${ran} | ${n(r, 'Killed', 'Timeout')} | ${r.survivors.length} | ${n(r, 'CompileError', 'RuntimeError')} | ${n(r, 'Ignored')} | ${r.seconds.toFixed(0)} s |`);
  }
  console.log(`\nTotal ${(seconds / 60).toFixed(0)} min.\n`);
  for (const r of results) for (const s of r.survivors) console.log(`- \`${s.at}\` ${s.mutator}: \`${oneLine(s.original, 70)}\` → \`${oneLine(s.replacement, 70)}\` — ${s.reason ?? '**unexplained**'}`);
}
