// The benchmark charts: panels of horizontal bars, as one SVG file.
//   panels: [{ title, items: [[label, value, color]], max, unit, digits }]
export function chart(panels, footer) {
  const W = 760;
  const row = 26;
  const left = 300;
  const barW = 380;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [];
  let y = 30;
  for (const { title, items, max, unit, digits } of panels) {
    parts.push(`<text x="10" y="${y}" font-size="15" font-weight="bold">${esc(title)}</text>`);
    y += 14;
    for (const [label, value, color] of items) {
      const w = Math.max(1, (value / max) * barW);
      parts.push(`<text x="${left - 8}" y="${y + 17}" font-size="12" text-anchor="end">${esc(label)}</text>`);
      parts.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="18" fill="${color}"/>`);
      parts.push(`<text x="${left + w + 6}" y="${y + 17}" font-size="12">${esc(value.toFixed(digits))}${unit}</text>`);
      y += row;
    }
    y += 20;
  }
  parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${esc(footer)}</text>`);
  y += 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
