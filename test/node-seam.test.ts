// Node's private members, which src/seams/node.ts alone reaches (test/pg-contract.test.ts checks
// that no other file does): each one it reaches is there on this Node. The list is read out of the
// seam's source; test:node runs this file on every Node major.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

const seam = join(__dirname, '..', 'src', 'seams', 'node.ts');

describe("Node's privates, behind one seam", () => {
  it('every private member the seam reaches is there on this Node', async () => {
    const run = await runFixture('seams/node-contract.cjs');
    ok(run);
    const { paths, missing } = run.results.result;
    expect(paths).toEqual(expect.arrayContaining(['process._getActiveHandles', 'Module._extensions', 'socketOrServer._handle.fd']));
    expect(missing).toEqual([]);
  });

  it('the check can fail: a member gone, and a new private use with nothing to check it against', async () => {
    const gone = await runFixture('seams/node-contract.cjs', { env: { BREAK: 'process._getActiveHandles' } });
    ok(gone);
    expect(gone.results.result.missing).toEqual(['process._getActiveHandles']);
    const dir = join(__dirname, '..', '.tmp', 'node-seam-mutant');
    mkdirSync(dir, { recursive: true });
    const mutant = join(dir, 'node.ts');
    writeFileSync(
      mutant,
      `${readFileSync(seam, 'utf8')}\nexport function tickInfo(): unknown {\n  return (process as unknown as { _tickInfo?: unknown })._tickInfo;\n}\n`,
    );
    const added = await runFixture('seams/node-contract.cjs', { env: { FG_SEAM: mutant } });
    ok(added);
    expect(added.results.result.missing).toEqual(['process._tickInfo (no live object for it in test/fixtures/seams/node-contract.cjs)']);
  });
});
