// The ESM entry point: the very objects of the CommonJS build, re-exported, so that a class is the
// same class whichever way it was loaded (instanceof works across import and require) and the
// native state exists once.
import cjs from './index.js';

export const {
  install,
  isInstalled,
  forkGeneration,
  currentPid,
  trackFd,
  untrackFd,
  isTracked,
  fork,
  onFork,
  waitpid,
  prefork,
  systemdSockets,
  guard,
  isGuarded,
  stats,
  addResettable,
  removeResettable,
  register,
  unregister,
  createPoolRegistry,
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
} = cjs;
export type * from './index.js';
export default cjs;
