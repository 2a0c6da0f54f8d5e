export { install, isInstalled, forkGeneration, currentPid } from './state.js';
export { trackFd, untrackFd, isTracked } from './fd-registry.js';
export { fork, onFork, waitpid, type ForkOptions, type ForkHooks, type ExitStatus } from './fork.js';
export { prefork, type PreforkOptions, type Master, type WorkerInfo, type WorkerEvent } from './prefork.js';
export { guard, isGuarded, stats, type GuardOptions, type PoolStats, type PgPoolLike, type PgClientLike } from './guard.js';
export type { CheckoutDetail } from './checkout.js';
export { register, unregister, type Resettable } from './reset-list.js';
export {
  createPoolRegistry,
  type PoolRegistry,
  type PoolRegistryOptions,
  type RegistryStats,
  type EvictReason,
  type OverflowPolicy,
} from './pool-registry.js';
export {
  ForkGuardError,
  ForkUnsupportedError,
  ForkFailedError,
  FdRegistryError,
  ForkedConnectionError,
  IncompatiblePoolError,
  PoolLimitError,
  InvalidArgumentError,
  NativeLoadError,
  PreforkError,
  NotAChildError,
} from './errors.js';
