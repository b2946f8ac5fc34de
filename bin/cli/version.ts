/** The package's own version, read from its package.json (bin/ runs from the sources or from dist/bin). */
import { readFileSync } from 'node:fs';

let version: string | undefined;

export function packageVersion(): string {
  if (version) return version;
  // The package root is two levels up from the sources (bin/cli) and three from the build (dist/bin/cli).
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'curvetun' && typeof pkg.version === 'string') return (version = pkg.version);
    } catch {
      // not this level
    }
  }
  return (version = 'unknown');
}
