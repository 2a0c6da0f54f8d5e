// Generated from native/core/facts.h by native/gen-facts.mjs (npm run build:ts): do not edit.
// The names of the facts the addon hands over at init(); their numbers come from the addon.

/** Slots of the shared state page (a Uint32Array). */
export const stateSlots = ["generation","pid","neutralised","failed","tracked","announced","swept","sweepFailed","sweepUs"] as const;
export type StateSlot = (typeof stateSlots)[number];

/** Results of trackFd, untrackFd and neutraliseFd. */
export const codes = ["ok","badFd","notSocket","full","range","notTracked","noDeadSocket"] as const;
export type ResultCode = (typeof codes)[number];

/** The registry's and fork()'s limits. */
export const limits = ["registryCapacity","fdIndexLimit","quiesceTimeoutMs","keepCapacity","sweptRecord"] as const;
export type Limit = (typeof limits)[number];

/** Slots of fork()'s report (a Float64Array). */
export const forkReport = ["pid","errno","quiesceNs","scanNs","forkNs","syscallNs","syscallCpuNs","restoreNs","ranges","calls","adviseFailures","lostReqs","condvars","quiesced","quiesceReused","threadpoolSize","threadpoolSizeFrom","scanReused","restoreOneByOne"] as const;
export type ForkReportSlot = (typeof forkReport)[number];
