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
export type {
  NetavarkOptions,
  NetavarkStatus,
  PerNetworkOptions,
  PortMapping,
} from './netavark.js';
export type { CreateNetworkOptions, NetworkConfig, NetworkSettings } from './network.js';
export {
  containerNetworkNames,
  createNetwork,
  DEFAULT_INTERFACE,
  DEFAULT_NETWORK,
  ensureDefaultNetwork,
  inspectNetwork,
  listNetworks,
} from './network.js';
export type { AttachedNetwork, ContainerNetworkState } from './network-setup.js';
export {
  connectNetwork,
  disconnectNetwork,
  pruneNetworks,
  removeNetwork,
} from './network-setup.js';
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
export { exposedPortMappings, parsePublish } from './ports.js';
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
export { pickFreeSubnet } from './subnet.js';
export type { TerminalSize } from './tty.js';
export { DEFAULT_DETACH_KEYS, DetachKeyMatcher, parseDetachKeys } from './tty.js';
export type * from './types.js';
export type { GroupEntry, PasswdEntry, ResolvedUser } from './user.js';
export { parseGroup, parsePasswd, readRootfsFile, resolveInRoot, resolveUser } from './user.js';
export type { CreateVolumeOptions, VolumeInspect } from './volume.js';
export {
  createVolume,
  inspectVolume,
  listVolumes,
  pruneVolumes,
  removeVolume,
  volumeMountpoint,
} from './volume.js';
