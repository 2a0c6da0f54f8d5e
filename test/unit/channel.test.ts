// The framing of a prefork control channel (src/prefork/channel.ts): lines across chunk borders,
// and a bound on what an unfinished line can hold.
import { describe, expect, it } from 'vitest';
import { MAX_LINE, lineReader } from '../../dist/prefork/channel.js';

function reader(max = MAX_LINE) {
  const lines: string[] = [];
  let overflows = 0;
  const feed = lineReader(max, (l) => lines.push(l), () => overflows++);
  return { feed, lines, overflows: () => overflows };
}

describe('lineReader', () => {
  it('splits lines across chunks, several in one chunk, and keeps an unfinished one for the next', () => {
    const r = reader();
    r.feed('{"ready":0');
    r.feed(',"pid":1}\n{"a":1}\n{"b"');
    r.feed(':2}\n');
    expect(r.lines).toEqual(['{"ready":0,"pid":1}', '{"a":1}', '{"b":2}']);
    expect(r.overflows()).toBe(0);
  });

  it('30 MB with no newline: overflows once, at the bound, and reads nothing after', () => {
    const r = reader();
    const chunk = 'x'.repeat(64 * 1024);
    let fedWhenOverflowed = -1;
    for (let i = 0; i < 480; i++) {
      r.feed(chunk);
      if (r.overflows() === 1 && fedWhenOverflowed < 0) fedWhenOverflowed = (i + 1) * chunk.length;
    }
    r.feed('\n{"ready":0}\n');
    expect(r.overflows()).toBe(1);
    expect(fedWhenOverflowed).toBe(chunk.length); // the first chunk already passes 4 KiB
    expect(r.lines).toEqual([]);
  });

  it('a line longer than the bound, even when its newline comes in the same chunk, is refused', () => {
    const r = reader(16);
    r.feed('short\n');
    r.feed(`${'y'.repeat(17)}\nafter\n`);
    expect(r.lines).toEqual(['short']);
    expect(r.overflows()).toBe(1);
  });

  it('a line of exactly the bound is read', () => {
    const r = reader(16);
    r.feed(`${'z'.repeat(10)}`);
    r.feed(`${'z'.repeat(6)}\n`);
    expect(r.lines).toEqual(['z'.repeat(16)]);
  });
});
