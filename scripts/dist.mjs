/**
 * The two steps of `npm run build` around tsc (package.json):
 *   node scripts/dist.mjs clean          remove dist/, so no module deleted from the sources lingers
 *   node scripts/dist.mjs declarations   keep private members out of the public .d.ts files
 *
 * tsc lists every `private` member of a class in its declarations (as `private name;`, without a
 * type). They are no part of the API, yet they show in the package and in editors. Each class's
 * private members become the one `#private;` line that tsc itself writes for a class with
 * ECMAScript private fields: the class stays nominal (an object of the same shape is not one of
 * its instances) and nothing else changes. `private constructor()` stays: it forbids `new`.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist', import.meta.url));
const CLASS_START = /^(export )?declare (abstract )?class .*\{$/;
const PRIVATE_MEMBER = /^ {4}private (static )?(readonly )?[A-Za-z_$][\w$]*\??;$/;

function* declarationFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* declarationFiles(path);
    else if (entry.name.endsWith('.d.ts')) yield path;
  }
}

/** The text with each class's private members folded into one `#private;`; also how many went. */
export function hidePrivate(text) {
  const out = [];
  let inClass = false;
  let marked = false;
  let hidden = 0;
  for (const line of text.split('\n')) {
    if (CLASS_START.test(line)) {
      inClass = true;
      marked = false;
    } else if (inClass && line === '}') {
      inClass = false;
      marked = false;
    } else if (inClass && PRIVATE_MEMBER.test(line)) {
      hidden++;
      if (!marked) out.push('    #private;');
      marked = true;
      continue;
    } else if (inClass && line === '    #private;') {
      marked = true;
    }
    out.push(line);
  }
  return { text: out.join('\n'), hidden };
}

const step = process.argv[2];
if (step === 'clean') {
  rmSync(dist, { recursive: true, force: true });
} else if (step === 'declarations') {
  let hidden = 0;
  for (const file of declarationFiles(dist)) {
    const result = hidePrivate(readFileSync(file, 'utf8'));
    if (result.hidden > 0) writeFileSync(file, result.text);
    hidden += result.hidden;
  }
  console.log(`dist: ${hidden} private members folded into #private`);
} else {
  console.error('usage: node scripts/dist.mjs clean|declarations');
  process.exit(2);
}
