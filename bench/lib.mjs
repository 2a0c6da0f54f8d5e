// Shared by the benchmarks: each one is its own process, prints a line of JSON last.
export const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
export const ns = () => Number(process.hrtime.bigint());
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
