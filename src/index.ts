export { install, isInstalled, forkGeneration, currentPid } from './state.js';
export { trackFd, untrackFd, isTracked } from './registry.js';
export { fork, onFork, waitpid, type ForkOptions, type ForkHooks, type ExitStatus } from './fork.js';
export {
  guard,
  isGuarded,
  stats,
  type GuardOptions,
  type PoolStats,
  type PgPoolLike,
  type PgClientLike,
} from './guard.js';
export { register, unregister, type Resettable } from './pools.js';
export {
  ForkGuardError,
  ForkUnsupportedError,
  ForkFailedError,
  FdRegistryError,
  ForkedConnectionError,
  IncompatiblePoolError,
  InvalidArgumentError,
  NativeLoadError,
  NotAChildError,
} from './errors.js';
