// Writes src/seams/addon-facts.ts from native/core/facts.h: the names of every state slot, result
// code, limit and fork report slot, as the TypeScript types the JS side uses. The numbers stay in
// C: the addon hands them over at init(). Run by `npm run build:ts`; `--check` exits 1 if the
// written file differs from what it would write (test/facts.test.ts runs that).
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const header = readFileSync(new URL('native/core/facts.h', root), 'utf8');
const target = new URL('src/seams/addon-facts.ts', root);

function names(list) {
  const start = header.indexOf(`#define ${list}(X)`);
  if (start < 0) throw new Error(`native/core/facts.h has no ${list}`);
  const body = header.slice(start, header.indexOf('\n\n', start));
  return [...body.matchAll(/^\s*X\(\s*\w+\s*,\s*(\w+)\s*,/gm)].map((m) => m[1]);
}

const lists = [
  ['stateSlots', 'FG_STATE_LIST', 'StateSlot', 'Slots of the shared state page (a Uint32Array).'],
  ['codes', 'FG_CODE_LIST', 'ResultCode', 'Results of trackFd, untrackFd and neutraliseFd.'],
  ['limits', 'FG_LIMIT_LIST', 'Limit', 'The registry\'s and fork()\'s limits.'],
  ['forkReport', 'FG_REPORT_LIST', 'ForkReportSlot', 'Slots of fork()\'s report (a Float64Array).'],
];

let out =
  '// Generated from native/core/facts.h by native/gen-facts.mjs (npm run build:ts): do not edit.\n' +
  '// The names of the facts the addon hands over at init(); their numbers come from the addon.\n';
for (const [constName, list, type, doc] of lists) {
  out += `\n/** ${doc} */\nexport const ${constName} = ${JSON.stringify(names(list))} as const;\n`;
  out += `export type ${type} = (typeof ${constName})[number];\n`;
}

if (process.argv.includes('--check')) {
  const current = readFileSync(target, 'utf8');
  if (current !== out) {
    console.error('src/seams/addon-facts.ts is stale: run node native/gen-facts.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, out);
}
