import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The fast tests: in-process, no Postgres, no fork (`npm run test:unit`, seconds). `npm test` runs
// them too, with everything else.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/unit/**/*.test.ts'],
    pool: 'forks',
  },
});
