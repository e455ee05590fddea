export {
  type ExitCodes,
  exitCodeFor,
  formatError,
  type RunCliOptions,
  runCli,
  skopeoExitCodes,
  UsageError,
} from './errors.js';
export {
  type FormatOptions,
  headerForField,
  isJsonFormat,
  type NormalizedFormat,
  normalizeFormat,
  renderRows,
  renderTemplate,
} from './format.js';
export { type RenderJsonOptions, renderJson, renderJsonCompact } from './json.js';
export {
  type CopyEvent,
  CopyProgress,
  formatBytes,
  type ProgressOptions,
  type ProgressOutput,
} from './progress.js';
export { type AlignOptions, alignColumns } from './tabwriter.js';
export { TemplateError } from './template/error.js';
export {
  builtinFunctions,
  type ExecuteOptions,
  executeTemplate,
  goQuote,
  sprintf,
  type TemplateFunction,
} from './template/exec.js';
export { parseTemplate, type Template } from './template/parse.js';
export { formatValue, goMap, goStruct, isTrue, Timestamp } from './template/values.js';
