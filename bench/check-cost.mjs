// What the checkout check costs: the generation/canary check every checkout and query runs (two
// memory loads), debug mode's check (plus a real getpid()), and an N-API call doing getpid for scale.
import '../test/support/test-addon.cjs'; // the test build, first: it has getpid()
import { getpidCall } from '../test/support/native-test.js';
import { forkedSinceLastCheck, forkedSinceLastPidCheck, install } from '../dist/runtime/state.js';
import { emit, median, ns } from './lib.mjs';

install();
const N = 5_000_000;
function perCall(fn) {
  const samples = [];
  for (let r = 0; r < 7; r++) {
    const t = ns();
    let x = 0;
    for (let i = 0; i < N; i++) if (fn()) x++;
    samples.push((ns() - t) / N);
    if (x) throw new Error('a fork?');
  }
  return median(samples);
}
const empty = perCall(() => false);
emit({
  loopNs: empty,
  checkNs: perCall(forkedSinceLastCheck),
  debugCheckNs: perCall(forkedSinceLastPidCheck),
  napiGetpidNs: perCall(() => getpidCall() === 0),
});
