// The package's entry point (CommonJS; src/esm.mts re-exports these very objects for ESM).
import { wire } from './wiring.js';

wire();

export { install, isInstalled, forkGeneration, currentPid } from './runtime/state.js';
export { trackFd, untrackFd, isTracked } from './runtime/fd-registry.js';
export { fork, onFork, waitpid, type ForkOptions, type ForkHooks, type ExitStatus } from './runtime/fork.js';
export type { Keep, KeepableSocket } from './runtime/keep.js';
export {
  prefork,
  type PreforkOptions,
  type Master,
  type WorkerInfo,
  type WorkerEvent,
  type PreforkMemory,
  type ProcessMemory,
  type WorkerMemory,
} from './prefork/prefork.js';
export { systemdSockets, type SystemdSocket } from './prefork/systemd.js';
export { guard, isGuarded, stats, type GuardOptions, type PoolStats, type PgPoolLike, type PgClientLike } from './guard/guard.js';
export type { CheckoutDetail } from './guard/checkout.js';
export { addResettable, removeResettable, register, unregister, type Resettable } from './guard/reset-list.js';
export {
  createPoolRegistry,
  type PoolRegistry,
  type PoolRegistryOptions,
  type RegistryStats,
  type EvictReason,
  type OverflowPolicy,
} from './pool-registry/pool-registry.js';
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
} from './shared/errors.js';
