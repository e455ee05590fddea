import {
  alignColumns,
  goMap,
  goStruct,
  isJsonFormat,
  renderJson,
  renderRows,
  renderTemplate,
  UsageError,
} from '@skiff/cli-kit';
import { SkiffError } from '@skiff/oci-image';
import type { VolumeInspect } from '@skiff/runtime';
import { confirm, INSPECT_INDENT, isCode, keyValues, safeRegExp } from './command-parts.js';
import { withRuntime } from './containers.js';
import type { GlobalOptions } from './options.js';

/** podman's define.InspectVolumeData, in its field order (Anonymous only when set). */
export function volumeData(v: VolumeInspect): Record<string, unknown> {
  return goStruct('define.InspectVolumeData', {
    Name: v.Name,
    Driver: v.Driver,
    Mountpoint: v.Mountpoint,
    CreatedAt: v.CreatedAt,
    Labels: goMap({ ...v.Labels }),
    Scope: v.Scope,
    Options: goMap({ ...v.Options }),
    MountCount: v.MountCount,
    NeedsCopyUp: v.NeedsCopyUp,
    NeedsChown: v.NeedsCopyUp,
    Anonymous: v.Anonymous ? true : undefined,
  });
}

/**
 * `volume ls --format json` as podman 4.3 prints it: its encoder writes an empty map as an
 * opening brace, a line of the inner indent and the closing brace.
 */
export function podmanListJson(values: unknown[]): string {
  return renderJson(values, { indent: '  ' }).replace(
    /^( *)("[^"]+": )\{\}(,?)$/gm,
    (_m, pad: string, key: string, comma: string) => `${pad}${key}{\n${pad}  \n${pad}}${comma}`,
  );
}

export async function volumeCreateCommand(
  name: string | undefined,
  flags: { label?: string[]; opt?: string[]; driver?: string; ignore?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  if (flags.driver !== undefined && flags.driver !== 'local') {
    throw new UsageError(`volume driver ${flags.driver} is not supported: skiff has local volumes`);
  }
  const { createVolume } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    let v: VolumeInspect;
    try {
      v = createVolume(rt.store, {
        ...(name !== undefined ? { name } : {}),
        labels: keyValues('--label', flags.label),
        options: keyValues('--opt', flags.opt),
        ...(flags.ignore ? { ignore: true } : {}),
      });
    } catch (err) {
      if (isCode(err, 'E_VOLUME_EXISTS')) {
        throw new SkiffError('E_VOLUME_EXISTS', `${(err as Error).message}: volume already exists`);
      }
      throw err;
    }
    process.stdout.write(`${v.Name}\n`);
  });
}

const VOLUME_FILTERS = [
  'name',
  'label',
  'label!',
  'driver',
  'scope',
  'opt',
  'dangling',
  'anonymous',
];

export function volumeFilter(
  filters: string[],
  inUse: (v: VolumeInspect) => boolean,
): (v: VolumeInspect) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid filter "${f}": use KEY=VALUE`);
    const key = f.slice(0, eq);
    if (!VOLUME_FILTERS.includes(key)) {
      throw new UsageError(`invalid filter "${key}"`, {
        hint: `skiff filters volumes by ${VOLUME_FILTERS.join(', ')}`,
      });
    }
    byKey.set(key, [...(byKey.get(key) ?? []), f.slice(eq + 1)]);
  }
  const kv = (map: Record<string, string>, v: string) => {
    const eq = v.indexOf('=');
    if (eq < 0) return v in map;
    return map[v.slice(0, eq)] === v.slice(eq + 1);
  };
  const bool = (v: string) => {
    if (['true', '1'].includes(v)) return true;
    if (['false', '0'].includes(v)) return false;
    throw new UsageError(`invalid boolean filter value "${v}"`);
  };
  const tests: ((v: VolumeInspect) => boolean)[] = [];
  for (const [key, values] of byKey) {
    switch (key) {
      case 'name':
        tests.push((v) => values.some((x) => safeRegExp(x).test(v.Name)));
        break;
      case 'label':
        tests.push((v) => values.every((x) => kv(v.Labels, x)));
        break;
      case 'label!':
        tests.push((v) => values.every((x) => !kv(v.Labels, x)));
        break;
      case 'opt':
        tests.push((v) => values.every((x) => kv(v.Options, x)));
        break;
      case 'driver':
        tests.push((v) => values.includes(v.Driver));
        break;
      case 'scope':
        tests.push((v) => values.includes(v.Scope));
        break;
      case 'dangling': {
        const want = values.map(bool);
        tests.push((v) => want.every((w) => w === !inUse(v)));
        break;
      }
      case 'anonymous': {
        const want = values.map(bool);
        tests.push((v) => want.every((w) => w === v.Anonymous));
        break;
      }
    }
  }
  return (v) => tests.every((t) => t(v));
}

/** Names of the volumes some container (any state) mounts. */
function usedVolumes(rt: {
  list(): { options: { mounts?: { type: string; source?: string }[] } }[];
}) {
  return new Set(
    rt
      .list()
      .flatMap((c) => c.options.mounts ?? [])
      .filter((m) => m.type === 'volume' && m.source)
      .map((m) => m.source!),
  );
}

export async function volumeLsCommand(
  flags: { format?: string; quiet?: boolean; filter?: string[]; noheading?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  const { listVolumes } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    const used = usedVolumes(rt);
    const filter = volumeFilter(flags.filter ?? [], (v) => used.has(v.Name));
    const list = listVolumes(rt.store).filter(filter);
    if (flags.quiet) {
      process.stdout.write(list.map((v) => `${v.Name}\n`).join(''));
      return;
    }
    if (isJsonFormat(flags.format)) {
      process.stdout.write(`${podmanListJson(list.map(volumeData))}\n`);
      return;
    }
    const rows = list.map(volumeData);
    let format =
      flags.format === undefined || flags.format === '' || flags.format === 'table'
        ? 'table {{.Driver}}\t{{.Name}}'
        : flags.format;
    if (flags.noheading && format.startsWith('table')) {
      format = format.replace(/^table ?/, '') || '{{.Driver}}\t{{.Name}}';
      process.stdout.write(alignColumns(renderRows(format, rows, { name: 'volume ls' })));
      return;
    }
    process.stdout.write(
      renderRows(format, rows, { name: 'volume ls', headers: { Name: 'VOLUME NAME' } }),
    );
  });
}

export async function volumeInspectCommand(
  names: string[],
  flags: { format?: string; all?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  if (names.length === 0 && !flags.all) {
    throw new UsageError('provide one or more volume names or use --all');
  }
  const { inspectVolume, listVolumes } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    const found: VolumeInspect[] = flags.all ? listVolumes(rt.store) : [];
    let missing: string | undefined;
    for (const n of names) {
      try {
        found.push(inspectVolume(rt.store, n));
      } catch (err) {
        if (!isCode(err, 'E_VOLUME_NOT_FOUND')) throw err;
        missing ??= n;
      }
    }
    const data = found.map(volumeData);
    if (flags.format === undefined || isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(data, { indent: INSPECT_INDENT })}\n`);
    } else {
      let out = '';
      for (const d of data) out += renderTemplate(flags.format, d, { name: 'volume inspect' });
      process.stdout.write(out);
    }
    if (missing !== undefined) {
      throw new SkiffError('E_VOLUME_NOT_FOUND', `inspecting object: no such volume ${missing}`);
    }
  });
}

export async function volumeExistsCommand(name: string, globals: GlobalOptions): Promise<number> {
  const { inspectVolume } = await import('@skiff/runtime');
  return withRuntime(globals, async (rt) => {
    try {
      inspectVolume(rt.store, name);
      return 0;
    } catch (err) {
      if (isCode(err, 'E_VOLUME_NOT_FOUND')) return 1;
      throw err;
    }
  });
}

export async function volumeRmCommand(
  names: string[],
  flags: { force?: boolean; all?: boolean; time?: string },
  globals: GlobalOptions,
): Promise<number> {
  if (names.length === 0 && !flags.all) {
    throw new UsageError('choose either one or more volumes or all');
  }
  if (names.length > 0 && flags.all) {
    throw new UsageError('choose either one or more volumes or all');
  }
  const { listVolumes, removeVolume } = await import('@skiff/runtime');
  return withRuntime(globals, async (rt) => {
    const targets = flags.all ? listVolumes(rt.store).map((v) => v.Name) : names;
    let code = 0;
    for (const name of targets) {
      try {
        await removeVolume(rt, name, { force: Boolean(flags.force) });
        process.stdout.write(`${name}\n`);
      } catch (err) {
        let message = (err as Error).message;
        if (isCode(err, 'E_VOLUME_NOT_FOUND')) {
          message = `no volume with name "${name}" found: no such volume`;
          code = 1;
        } else if (isCode(err, 'E_VOLUME_IN_USE')) {
          message = `${message}: volume is being used`;
          code = 2;
        } else {
          code = 125;
        }
        process.stderr.write(`Error: ${message}\n`);
      }
    }
    return code;
  });
}

export async function volumePruneCommand(
  flags: { force?: boolean; filter?: string[] },
  globals: GlobalOptions,
): Promise<void> {
  const { listVolumes, pruneVolumes } = await import('@skiff/runtime');
  await withRuntime(globals, async (rt) => {
    const used = usedVolumes(rt);
    const filter = volumeFilter(flags.filter ?? [], (v) => used.has(v.Name));
    if (!flags.force) {
      const doomed = listVolumes(rt.store).filter((v) => !used.has(v.Name) && filter(v));
      const ok = await confirm(
        `WARNING! This will remove all volumes not used by at least one container. The following volumes will be removed:\n${doomed.map((v) => `${v.Name}\n`).join('')}Are you sure you want to continue? [y/N] `,
      );
      if (!ok) return;
    }
    const removed = await pruneVolumes(rt, { filter });
    process.stdout.write(removed.map((n) => `${n}\n`).join(''));
  });
}
