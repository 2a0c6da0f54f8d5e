import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.mjs'],
    pool: 'forks',
    // Fork scenarios spawn their own processes and measure survival under load: one file at a
    // time keeps a 2-core machine's timing out of the results.
    fileParallelism: false,
    // The JSON report lets .ci/run print a plain "N passed, N failed" line. A vitest run inside
    // this one (test/node-majors.test.ts) names its own, so neither overwrites the other.
    reporters: ['default', ['json', { outputFile: process.env.FG_VITEST_REPORT ?? '.tmp/vitest-report.json' }]],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
