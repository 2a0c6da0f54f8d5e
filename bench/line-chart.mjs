// A line chart as one SVG file: series of [x, y] points over shared axes (bench/soak.mjs).
//   lineChart({ title, xLabel, yLabel, series: [{ label, color, points: [[x, y]] }] }, footer)
export function lineChart({ title, xLabel, yLabel, series }, footer) {
  const W = 760;
  const H = 360;
  const [left, right, top, bottom] = [70, 20, 50, 60];
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yMax = niceCeil(Math.max(1, ...all.map((p) => p[1])));
  const x = (v) => left + (v / xMax) * (W - left - right);
  const y = (v) => H - bottom - (v / yMax) * (H - top - bottom);
  const parts = [`<text x="10" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(0)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = (xMax * i) / 5;
    parts.push(`<text x="${x(v)}" y="${H - bottom + 16}" font-size="11" text-anchor="middle">${v.toFixed(0)}</text>`);
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - bottom + 34}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${(top + H - bottom) / 2}" font-size="12" transform="rotate(-90 14 ${(top + H - bottom) / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<rect x="${left + 10 + i * 230}" y="${top - 18}" width="14" height="4" fill="${s.color}"/>`);
    parts.push(`<text x="${left + 30 + i * 230}" y="${top - 12}" font-size="12">${esc(s.label)}</text>`);
  });
  parts.push(`<text x="10" y="${H - 8}" font-size="11" fill="#555">${esc(footer)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

function niceCeil(v) {
  const step = 10 ** Math.floor(Math.log10(v));
  return Math.ceil(v / step) * step;
}
