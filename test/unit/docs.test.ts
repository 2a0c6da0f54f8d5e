// The docs a user navigates: a README of at most 300 lines, every error and warning code the source
// can raise documented in docs/errors.md, and every relative link between them resolving.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('docs', () => {
  it('README.md serves users in at most 300 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(300);
  });

  it('every error and warning code in src/ is in docs/errors.md', () => {
    const codes = new Set<string>();
    for (const f of sources('src')) for (const m of read(f).matchAll(/'((?:ERR_)?FORKGUARD_[A-Z_]+)'/g)) codes.add(m[1]!);
    expect(codes.size).toBeGreaterThan(30);
    const errors = read('docs/errors.md');
    expect([...codes].filter((c) => !errors.includes(`\`${c}\``))).toEqual([]);
  });

  it('every relative link in README.md and docs/ resolves', () => {
    const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const page of pages) {
      for (const m of read(page).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        if (!existsSync(join(root, dirname(page), target))) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
