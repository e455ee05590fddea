export type {
  AttachOptions,
  Container,
  ContainerState,
  ContainerStatus,
  ExecOptions,
  ExecProcess,
  LogEntry,
  LogsOptions,
  RemoveOptions,
  RuntimeConfig,
  RuntimeEvent,
  StopOptions,
  TopResult,
} from './container.js';
export { ContainerRuntime } from './container.js';
export { RuntimeErrorCode } from './errors.js';
export {
  capabilitiesFromMask,
  detectHost,
  loadSeccompProfile,
  SECCOMP_PROFILE_PATHS,
} from './host.js';
export { formatLogLine, parseLogLine } from './logs.js';
export {
  parseEntrypoint,
  parseEnvFile,
  parseMount,
  parseRestart,
  parseSignal,
  parseSize,
  parseTmpfs,
  parseUlimit,
  parseVolume,
  resolveEnvArg,
} from './options.js';
export { translateSeccomp } from './seccomp.js';
export {
  CGROUP_PARENT,
  capabilitySet,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  generateSpec,
  INIT_PATH,
  MASKED_PATHS,
  mergeEnv,
  processArgs,
  READONLY_PATHS,
} from './spec.js';
export type * from './types.js';
export type { GroupEntry, PasswdEntry, ResolvedUser } from './user.js';
export { parseGroup, parsePasswd, readRootfsFile, resolveInRoot, resolveUser } from './user.js';
