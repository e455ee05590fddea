import { SkiffError } from '@skiff/oci-image';

/** A `--format` template that does not parse or fails while executing. */
export class TemplateError extends SkiffError {
  constructor(message: string) {
    super('E_INVALID_FORMAT', message, {
      hint: 'Check the --format template: fields are case-sensitive and start with a dot, e.g. {{.Name}}.',
    });
    this.name = 'TemplateError';
  }
}
