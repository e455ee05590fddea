/** Error codes of @skiff/runtime (SkiffError codes; the CLI maps them to exit codes). */
export const RuntimeErrorCode = {
  UserNotFound: 'E_USER_NOT_FOUND',
  UnsafePath: 'E_UNSAFE_PATH',
  InvalidOption: 'E_INVALID_OPTION',
  NoCommand: 'E_NO_COMMAND',
  /** The OCI runtime (runc/crun) failed; the message carries its error. */
  OciRuntime: 'E_OCI_RUNTIME',
  /** The OCI runtime or conmon binary is missing. */
  RuntimeNotFound: 'E_RUNTIME_NOT_FOUND',
  /** The operation needs another state (e.g. start of a running container). */
  ContainerState: 'E_CONTAINER_STATE',
  /** rm of a running container without force. */
  ContainerRunning: 'E_CONTAINER_RUNNING',
  Timeout: 'E_TIMEOUT',
  /** The container's command could not be run (podman exit 126/127). */
  CannotInvoke: 'E_CANNOT_INVOKE',
  CommandNotFound: 'E_COMMAND_NOT_FOUND',
  /** netavark or the network namespace failed. */
  Network: 'E_NETWORK',
  NetworkNotFound: 'E_NETWORK_NOT_FOUND',
  NetworkExists: 'E_NETWORK_EXISTS',
  /** rm of a network or volume that containers use, without force. */
  NetworkInUse: 'E_NETWORK_IN_USE',
  VolumeNotFound: 'E_VOLUME_NOT_FOUND',
  VolumeExists: 'E_VOLUME_EXISTS',
  VolumeInUse: 'E_VOLUME_IN_USE',
  /** attach ended by the detach keys: the container keeps running (the CLI exits 0). */
  Detached: 'E_DETACHED',
} as const;
