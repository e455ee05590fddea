// skiff image inspect / skiff inspect / skiff history: podman's JSON and tables for stored images.
import {
  goStruct,
  isJsonFormat,
  renderJson,
  renderRows,
  renderTemplate,
  Timestamp,
  UsageError,
} from '@skiff/cli-kit';
import { SkiffError } from '@skiff/oci-image';
import { INSPECT_INDENT } from './command-parts.js';
import { inspectData, readConfig } from './image-info.js';
import { type GlobalOptions, withStore } from './options.js';
import { imageSize, rfc3339, timeAgo } from './units.js';

export interface InspectFlags {
  format?: string;
  type?: string;
  size?: boolean;
}

/** podman prints inspect JSON indented by one more space than MarshalIndent's four. */
export async function inspectCommand(
  names: string[],
  flags: InspectFlags,
  globals: GlobalOptions,
  topLevel: boolean,
): Promise<void> {
  if (names.length === 0) throw new UsageError('inspect requires at least one image name');
  if (flags.type !== undefined && !['image', 'all'].includes(flags.type)) {
    throw new UsageError(`invalid type "${flags.type}": skiff inspects images`, {
      hint: 'use --type image',
    });
  }
  await withStore(globals, async (store) => {
    const found: Record<string, unknown>[] = [];
    const missing: string[] = [];
    for (const n of names) {
      const img = store.findImage(n);
      if (img) found.push(goStruct('inspect.ImageData', inspectData(store, img)));
      else missing.push(n);
    }
    if (flags.format === undefined || isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(found, { indent: INSPECT_INDENT })}\n`);
    } else {
      let out = '';
      for (const data of found) out += renderTemplate(flags.format, data, { name: 'inspect' });
      process.stdout.write(out);
    }
    if (missing.length > 0) {
      const what = topLevel ? `no such object: "${missing[0]}"` : `${missing[0]}: image not known`;
      throw new SkiffError('E_IMAGE_NOT_FOUND', `inspecting object: ${what}`);
    }
  });
}

export interface HistoryFlags {
  human?: boolean;
  noTrunc?: boolean;
  trunc?: boolean;
  quiet?: boolean;
  format?: string;
}

export async function historyCommand(
  image: string,
  flags: HistoryFlags,
  globals: GlobalOptions,
): Promise<void> {
  const noTrunc = Boolean(flags.noTrunc) || flags.trunc === false;
  const human = flags.human !== false;
  await withStore(globals, async (store) => {
    const img = store.lookupImage(image);
    const config = readConfig(store, img);
    const history = config.history ?? [];
    const layerSizes = img.layers.map((l) => store.getLayer(l)?.size ?? 0);
    // Entries that made a layer take that layer's size, in order.
    let layer = 0;
    const entries = history.map((h) => {
      const size = h.empty_layer ? 0 : (layerSizes[layer++] ?? 0);
      return { h, size };
    });
    if (entries.length === 0) {
      for (const size of layerSizes) entries.push({ h: {}, size });
    }
    entries.reverse();
    const rows = entries.map(({ h, size }, i) => {
      const created = h.created ? new Date(h.created) : undefined;
      const id = i === 0 ? img.id : '<missing>';
      const createdBy = h.created_by ?? '';
      return {
        id,
        created,
        createdBy,
        size,
        comment: h.comment ?? '',
        tags: i === 0 ? img.names : [],
      };
    });
    if (flags.quiet) {
      process.stdout.write(
        rows.map((r) => (noTrunc || r.id === '<missing>' ? r.id : r.id.slice(0, 12))).join('\n') +
          '\n',
      );
      return;
    }
    if (isJsonFormat(flags.format)) {
      const json = rows.map((r) => ({
        id: r.id,
        created: r.created ? new Timestamp(rfc3339(r.created)) : null,
        CreatedBy: r.createdBy || undefined,
        size: r.size,
        Comment: r.comment || undefined,
        Created: r.created ? new Timestamp(rfc3339(r.created)) : null,
      }));
      process.stdout.write(`${renderJson(json, { indent: '' })}\n`);
      return;
    }
    const view = rows.map((r) => {
      let createdBy = r.createdBy;
      if (!noTrunc && createdBy.length > 45) createdBy = `${createdBy.slice(0, 42)}...`;
      const created = r.created ? (human ? timeAgo(r.created) : rfc3339(r.created)) : '';
      return {
        ID: noTrunc || r.id === '<missing>' ? r.id : r.id.slice(0, 12),
        Created: created,
        CreatedAt: r.created ? rfc3339(r.created) : '',
        CreatedSince: created,
        CreatedBy: createdBy,
        Size: human ? imageSize(r.size) : String(r.size),
        Comment: r.comment,
        Tags: r.tags.join(', '),
      };
    });
    const format =
      flags.format === undefined || flags.format === '' || flags.format === 'table'
        ? 'table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'
        : flags.format;
    process.stdout.write(
      renderRows(format, view, { name: 'history', headers: { CreatedSince: 'CREATED' } }),
    );
  });
}
