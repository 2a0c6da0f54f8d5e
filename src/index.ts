export { install, isInstalled, forkGeneration, currentPid } from './state.js';
export { trackFd, untrackFd, isTracked } from './registry.js';
export { fork, onFork, waitpid, type ForkOptions, type ForkHooks, type ExitStatus } from './fork.js';
export {
  ForkGuardError,
  ForkUnsupportedError,
  ForkFailedError,
  FdRegistryError,
  InvalidArgumentError,
  NativeLoadError,
  NotAChildError,
} from './errors.js';
