// Where /proc is masked: fork() says so, and never writes what it cannot prove. No /proc at all
// (a tmpfs over it): fork() and prefork() refuse with an error that names /proc, before anything
// is touched. /proc/self/task hidden (gVisor, restricted containers): fork() goes ahead without the
// condvar repair, and a warning with a code says the repair is off (native/core/condvars.h).
import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

describe('/proc masked', () => {
  it('no /proc: fork() and prefork() refuse with ForkUnsupportedError naming /proc', async () => {
    const run = await runFixture('proc-masked.mjs', { args: ['none'], mounts: ['-t tmpfs none /proc'] });
    expect(run.code, run.stderr).toBe(0);
    const r = run.results.masked;
    for (const call of ['fork', 'prefork']) {
      expect(r[call], call).toMatchObject({ name: 'ForkUnsupportedError', reason: 'proc' });
      expect(r[call].message).toMatch(new RegExp(`^${call}\\(\\) refused: /proc is not mounted or not readable`));
    }
  });

  it('/proc/self/task hidden: the child is forked and exits, and FORKGUARD_CONDVARS_UNCHECKED says the repair is off', async () => {
    const run = await runFixture('proc-masked.mjs', { args: ['task'], mounts: [] });
    expect(run.code, run.stderr).toBe(0);
    const r = run.results.masked;
    expect(r.fork.exit).toEqual({ code: 0, signal: null });
    expect(r.warnings.map((w: { code: string }) => w.code)).toEqual(['FORKGUARD_CONDVARS_UNCHECKED']);
    expect(r.warnings[0].message).toMatch(/\/proc\/self\/task/);
  });
});
