export {
  type BlobStream,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  type ManifestDescriptor,
  type ManifestResult,
  mergeScopes,
  type PutBlobOptions,
  type PutBlobResult,
  RegistryClient,
  type RegistryClientOptions,
} from './client.js';
export {
  authFilePaths,
  type CredentialOptions,
  type Credentials,
  credentialsFromHelper,
  defaultAuthFile,
  getCredentials,
  logout,
  normalizeAuthKey,
  parseCreds,
  storeCredentials,
} from './credentials.js';
export {
  RegistryError,
  RegistryErrorCode,
  type RegistryErrorDetail,
  type RegistryErrorInit,
  redact,
} from './errors.js';
export {
  type AuthChallenge,
  type LinkValue,
  nextLink,
  parseLinkHeader,
  parseRetryAfter,
  parseWwwAuthenticate,
} from './headers.js';
export { defaultRetryPolicy, type RetryPolicy } from './http.js';
export { type LoginOptions, login } from './login.js';
export {
  type Endpoint,
  emptyRegistriesConf,
  findRegistry,
  isInsecureRegistry,
  isQualifiedName,
  type LoadRegistriesConfOptions,
  loadRegistriesConf,
  mergeRegistriesConf,
  type PullFromMirror,
  parseRegistriesConf,
  type RegistriesConf,
  type RegistriesConfFile,
  type RegistryEntry,
  type RegistryMirror,
  resolvePullEndpoints,
  resolvePushEndpoint,
  resolveShortName,
  type ShortNameMode,
  type ShortNameResolution,
} from './registries-conf.js';
export { defaultCertsRoots, loadTlsFiles, type TlsFiles } from './tls.js';
