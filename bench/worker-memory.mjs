// Where a prefork worker's memory goes: its private pages split into the master's pages it copied
// (it wrote to a page it shared, copy-on-write) and its own growth (pages the master does not have),
// per kind of mapping, from /proc/<pid>/smaps and /proc/<pid>/pagemap (root, or the same user).
//   node bench/worker-memory.mjs <masterPid> <workerPid> [--json] [--writes]
// A page is the worker's own when pagemap marks it present and mapped by this process alone (bit 56);
// it was copied when the master has a page at the same address, grown when not. The master is idle
// once its workers run (it only supervises), so what it holds now is what it held at the fork.
// --writes: what the worker wrote into the master's pages it copied. Each copied page is read from
// both processes (/proc/<pid>/mem) and the 8-byte words that differ counted: a few words are a
// field or a header updated in place; a run of hundreds is new objects allocated over space the
// master had left free (its garbage, a free-list hole). Pages at the start of V8's 256 KiB chunks
// hold the chunk's header and marking bitmap: counted apart.
// V8's spaces, as the worker itself counts them: send it SIGUSR2 under bench/prefork-server.mjs,
// which writes v8.getHeapSpaceStatistics() to /tmp/fg-heap-<pid>.json.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const PAGE = 4096;
const [masterPid, workerPid] = process.argv.slice(2).map(Number);
if (!masterPid || !workerPid) {
  console.error('usage: node bench/worker-memory.mjs <masterPid> <workerPid> [--json] [--writes]');
  process.exit(2);
}

/** The mappings of a process with their smaps fields (kB) and a kind. */
function mappings(pid) {
  const out = [];
  let cur;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      cur = { start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], name: head[4], fields: {} };
      out.push(cur);
      continue;
    }
    const f = /^(\w+):\s+(\d+) kB/.exec(line);
    if (f && cur) cur.fields[f[1]] = Number(f[2]);
  }
  for (const m of out) m.kind = kindOf(m);
  return out;
}

function kindOf(m) {
  if (m.name === '[heap]') return 'malloc (brk heap)';
  if (m.name === '[stack]') return 'stack';
  if (m.name.startsWith('/')) return m.perms.includes('x') ? 'code (files)' : 'file data (relocations, .data)';
  if (m.name.startsWith('[')) return m.name;
  // Anonymous: V8's pages are 256 KiB-aligned chunks; malloc's mmap'd arenas are 64 MiB-aligned.
  return m.perms.includes('x') ? 'anonymous executable (JIT code)' : 'anonymous (V8 heap, arenas, buffers)';
}

/** pagemap entries for [start, end) of a process, 8 bytes a page. */
function pagemap(fd, start, end) {
  const pages = Number((end - start) / BigInt(PAGE));
  const buf = Buffer.alloc(pages * 8);
  let read = 0;
  while (read < buf.length) {
    const n = readSync(fd, buf, read, buf.length - read, Number((start / BigInt(PAGE)) * 8n) + read);
    if (n <= 0) break;
    read += n;
  }
  return buf;
}

const PRESENT = 1n << 63n;
const EXCLUSIVE = 1n << 56n;
const workerMaps = mappings(workerPid);
const masterMaps = mappings(masterPid);
const wfd = openSync(`/proc/${workerPid}/pagemap`, 'r');
const mfd = openSync(`/proc/${masterPid}/pagemap`, 'r');
const byKind = {};
let skipped = 0;

/** --writes: copied pages of V8's heap, by how many of their 512 words the worker changed. */
const writes = process.argv.includes('--writes')
  ? {
      wmem: openSync(`/proc/${workerPid}/mem`, 'r'),
      mmem: openSync(`/proc/${masterPid}/mem`, 'r'),
      bands: { 'unchanged (written back as it was)': 0, '1-8 words (fields, headers)': 0, '9-64 words': 0, '65-256 words': 0, '257-512 words (rewritten)': 0, 'chunk header and marking bitmap': 0 },
    }
  : undefined;
const CHUNK = 256n * 1024n;
const wordsW = Buffer.alloc(PAGE);
const wordsM = Buffer.alloc(PAGE);
function countWrites(address) {
  const mb = PAGE / 1048576;
  if (address % CHUNK < 3n * BigInt(PAGE)) {
    writes.bands['chunk header and marking bitmap'] += mb;
    return;
  }
  try {
    readSync(writes.wmem, wordsW, 0, PAGE, address);
    readSync(writes.mmem, wordsM, 0, PAGE, address);
  } catch {
    return;
  }
  let changed = 0;
  for (let i = 0; i < PAGE; i += 8) if (wordsW.readBigUInt64LE(i) !== wordsM.readBigUInt64LE(i)) changed++;
  const band = changed === 0 ? 'unchanged (written back as it was)' : changed <= 8 ? '1-8 words (fields, headers)' : changed <= 64 ? '9-64 words' : changed <= 256 ? '65-256 words' : '257-512 words (rewritten)';
  writes.bands[band] += mb;
}
for (const m of workerMaps) {
  if (!m.fields.Private_Dirty) continue;
  if (m.end - m.start > 4n * 2n ** 30n) {
    skipped += m.fields.Private_Dirty;
    continue;
  }
  const k = (byKind[m.kind] ??= { copiedMB: 0, grownMB: 0, privateDirtyMB: 0, sharedMB: 0 });
  k.privateDirtyMB += m.fields.Private_Dirty / 1024;
  k.sharedMB += ((m.fields.Shared_Clean ?? 0) + (m.fields.Shared_Dirty ?? 0)) / 1024;
  const w = pagemap(wfd, m.start, m.end);
  // The master's entries for the same range, where it has a mapping there.
  const overlap = masterMaps.filter((x) => x.start < m.end && x.end > m.start);
  const mastered = new Set();
  for (const x of overlap) {
    const s = x.start > m.start ? x.start : m.start;
    const e = x.end < m.end ? x.end : m.end;
    const b = pagemap(mfd, s, e);
    const offset = Number((s - m.start) / BigInt(PAGE));
    for (let i = 0; i < b.length / 8; i++) if (b.readBigUInt64LE(i * 8) & PRESENT) mastered.add(offset + i);
  }
  for (let i = 0; i < w.length / 8; i++) {
    const e = w.readBigUInt64LE(i * 8);
    if (!(e & PRESENT) || !(e & EXCLUSIVE)) continue;
    if (mastered.has(i)) {
      k.copiedMB += PAGE / 1048576;
      if (writes && m.kind.startsWith('anonymous (V8')) countWrites(m.start + BigInt(i * PAGE));
    } else k.grownMB += PAGE / 1048576;
  }
}
closeSync(wfd);
closeSync(mfd);
if (writes) {
  closeSync(writes.wmem);
  closeSync(writes.mmem);
}
let heap;
try {
  heap = JSON.parse(readFileSync(`/tmp/fg-heap-${workerPid}.json`, 'utf8'));
} catch {}
const total = Object.values(byKind).reduce((a, k) => ({ copiedMB: a.copiedMB + k.copiedMB, grownMB: a.grownMB + k.grownMB, privateDirtyMB: a.privateDirtyMB + k.privateDirtyMB }), { copiedMB: 0, grownMB: 0, privateDirtyMB: 0 });
const result = { masterPid, workerPid, total, byKind, skippedHugeMappingsMB: skipped / 1024, v8Spaces: heap, copiedHeapPagesByWordsChangedMB: writes?.bands };
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
else {
  const f = (v) => v.toFixed(1).padStart(8);
  console.log(`worker ${workerPid} (master ${masterPid}): Private_Dirty ${total.privateDirtyMB.toFixed(1)} MB = copied ${total.copiedMB.toFixed(1)} + grown ${total.grownMB.toFixed(1)} MB (exclusive pages)`);
  console.log(`${'kind'.padEnd(40)} ${'priv.dirty'.padStart(10)} ${'copied'.padStart(8)} ${'grown'.padStart(8)} ${'shared'.padStart(8)}`);
  for (const [kind, k] of Object.entries(byKind).sort((a, b) => b[1].privateDirtyMB - a[1].privateDirtyMB)) {
    console.log(`${kind.padEnd(40)} ${f(k.privateDirtyMB).padStart(10)} ${f(k.copiedMB)} ${f(k.grownMB)} ${f(k.sharedMB)}`);
  }
  if (writes) {
    console.log(`copied V8 heap pages, by how many of a page's 512 words the worker changed:`);
    for (const [band, mb] of Object.entries(writes.bands)) console.log(`  ${band.padEnd(40)} ${f(mb)} MB`);
  }
  if (heap) for (const s of heap.spaces) console.log(`  V8 ${s.space_name.padEnd(28)} size ${(s.space_size / 1048576).toFixed(1)} MB, used ${(s.space_used_size / 1048576).toFixed(1)} MB`);
}
