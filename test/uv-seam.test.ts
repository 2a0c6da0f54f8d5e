// libuv's private fields, which native/uv/uv-private.h alone reads: every accessor the header
// declares does what it says on this Node's live loop (test:node runs this on every major). The
// list of accessors is read out of the header, so one added without a check here fails.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

const nativeDir = join(__dirname, '..', 'native');
const header = readFileSync(join(nativeDir, 'uv', 'uv-private.h'), 'utf8');
const accessors = [...new Set([...header.matchAll(/^inline [^(]*?\b(fg_uv_\w+)\(|^inline void (fg_uv_\w+)\(/gm), ...header.matchAll(/^template <[^>]*>\s*\ninline \w+ (fg_uv_\w+)\(/gm)]
  .map((m) => m[1] ?? m[2])
  .filter(Boolean))];

describe("libuv's privates, behind one header", () => {
  it('every accessor uv-private.h declares is checked on the live loop', async () => {
    expect(accessors).toEqual(expect.arrayContaining(['fg_uv_active_reqs', 'fg_uv_each_completed', 'fg_uv_set_work_done', 'fg_uv_async_clear']));
    const run = await runFixture('seams/uv-contract.mjs');
    ok(run);
    const results = run.results.result as Record<string, boolean | string>;
    const failed = accessors.filter((a) => results[a] !== true && !(typeof results[a] === 'string' && /^exercised in fork children/.test(results[a] as string)));
    expect(failed, JSON.stringify(results)).toEqual([]);
    // And the check covers nothing the header does not declare (a renamed accessor is noticed).
    expect(Object.keys(results).sort()).toEqual([...new Set(accessors)].sort());
  });

  it('no other native file reads libuv privates itself', () => {
    const privates = /\buv__\w+|->(active_reqs|wq_mutex|wq_async|nwatchers|watchers|work_req|pipe_fname)\b|\.(work_req|wq|pipe_fname)\b/;
    const offenders: string[] = [];
    for (const dir of ['core', 'uv', 'napi']) {
      for (const f of readdirSync(join(nativeDir, dir))) {
        if (f === 'uv-private.h') continue;
        readFileSync(join(nativeDir, dir, f), 'utf8')
          .split('\n')
          .forEach((line, i) => {
            const code = line.replace(/\/\/.*$/, '');
            if (privates.test(code)) offenders.push(`native/${dir}/${f}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(offenders).toEqual([]);
  });
});
