// skiff image prune, system prune/df/reset, info and version.
import { cpus, freemem, hostname, release, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { isJsonFormat, renderJson, renderRows, renderTemplate, UsageError } from '@skiff/cli-kit';
import { hostPlatform } from '@skiff/oci-image';
import type { Store } from '@skiff/storage';
import { stringify as stringifyYaml } from 'yaml';
import { repoTags, splitName } from './image-info.js';
import { type GlobalOptions, storeOptions, withStore } from './options.js';
import { humanDuration, humanSize } from './units.js';

/** Asks on stdin (a terminal or a pipe), like podman's prompts; true for y/yes. */
async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const rl = createInterface({ input: process.stdin });
  try {
    const line = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(line.trim());
  } finally {
    rl.close();
  }
}

export interface PruneFlags {
  all?: boolean;
  force?: boolean;
  volumes?: boolean;
  filter?: string[];
}

export async function imagePruneCommand(flags: PruneFlags, globals: GlobalOptions): Promise<void> {
  if (!flags.force) {
    const what = flags.all
      ? 'WARNING! This command removes all images without at least one container associated with them.'
      : 'WARNING! This command removes all dangling images.';
    if (!(await confirm(`${what}\nAre you sure you want to continue? [y/N] `))) return;
  }
  await withStore(globals, async (store) => {
    const r = await store.pruneImages({ all: Boolean(flags.all) });
    if (r.removed.length > 0) process.stdout.write(`${r.removed.join('\n')}\n`);
  });
}

export async function systemPruneCommand(flags: PruneFlags, globals: GlobalOptions): Promise<void> {
  if (!flags.force) {
    const lines = [
      'WARNING! This command removes:',
      '\t- all stopped containers',
      ...(flags.volumes ? ['\t- all volumes not used by at least one container'] : []),
      '\t- all networks not used by at least one container',
      flags.all
        ? '\t- all images without at least one container associated with them'
        : '\t- all dangling images',
      '\t- all build cache',
      '',
      'Are you sure you want to continue? [y/N] ',
    ];
    if (!(await confirm(lines.join('\n')))) return;
  }
  await withStore(globals, async (store) => {
    const r = await store.pruneImages({ all: Boolean(flags.all) });
    const gc = await store.gc();
    let out = '';
    if (r.removed.length > 0) out += `Deleted Images\n${r.removed.join('\n')}\n`;
    out += `Total reclaimed space: ${humanSize(r.reclaimedBytes)}\n`;
    void gc;
    process.stdout.write(out);
  });
}

export async function systemResetCommand(
  flags: { force?: boolean },
  globals: GlobalOptions,
): Promise<void> {
  if (!flags.force) {
    const text = `WARNING! This will remove:
        - all containers
        - all pods
        - all images
        - all networks
        - all build cache
        - all machines
        - all volumes
Are you sure you want to continue? [y/N] `;
    if (!(await confirm(text))) return;
  }
  await withStore(globals, async (store) => {
    await store.reset();
  });
}

export interface DfFlags {
  verbose?: boolean;
  format?: string;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`;
}

export async function systemDfCommand(flags: DfFlags, globals: GlobalOptions): Promise<void> {
  await withStore(globals, async (store) => {
    const df = await store.df();
    const imagesSize = df.totals.layers + df.totals.blobs;
    const active = df.images.filter((i) => i.containers > 0).length;
    // Disk use is real (blobs kept for pushes plus extracted layers); what no container
    // uses can be reclaimed.
    const reclaimable =
      active === 0
        ? imagesSize
        : df.images.filter((i) => i.containers === 0).reduce((n, i) => n + i.uniqueSize, 0) +
          df.totals.unreferenced;
    const containersSize = df.containers.reduce((n, c) => n + c.size, 0);
    const summary = [
      {
        Type: 'Images',
        Total: df.images.length,
        Active: active,
        RawSize: imagesSize,
        RawReclaimable: Math.min(reclaimable + df.totals.unreferenced, imagesSize),
        TotalCount: df.images.length,
      },
      {
        Type: 'Containers',
        Total: df.containers.length,
        Active: 0,
        RawSize: containersSize,
        RawReclaimable: containersSize,
        TotalCount: df.containers.length,
      },
      { Type: 'Local Volumes', Total: 0, Active: 0, RawSize: 0, RawReclaimable: 0, TotalCount: 0 },
    ].map((s) => ({
      ...s,
      Size: humanSize(s.RawSize),
      Reclaimable: `${humanSize(s.RawReclaimable)} (${percent(s.RawReclaimable, s.RawSize)})`,
    }));
    if (flags.verbose) {
      if (flags.format !== undefined)
        throw new UsageError('cannot combine --format and --verbose flags');
      const rows = df.images.flatMap((i) => {
        const img = store.getImage(i.id);
        const names = img ? repoTags(img) : [];
        const base = {
          ID: i.id.slice(0, 12),
          Created: humanDuration(Date.now() - i.created.getTime()),
          Size: humanSize(i.size),
          SharedSize: humanSize(i.sharedSize),
          UniqueSize: humanSize(i.uniqueSize),
          Containers: i.containers,
        };
        return names.length === 0
          ? [{ Repository: '<none>', Tag: '<none>', ...base }]
          : names
              .map((n) => ({ ...splitName(n), ...base }))
              .map((r) => ({
                Repository: r.repository,
                Tag: r.tag,
                ...base,
              }));
      });
      let out = 'Images space usage:\n\n';
      out += renderRows(
        'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
        rows,
        { headers: { ID: 'IMAGE ID' } },
      );
      out += '\nContainers space usage:\n\n';
      out += renderRows(
        'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Created}}\t{{.Status}}\t{{.Names}}',
        df.containers.map((c) => ({
          ID: c.id.slice(0, 12),
          Image: c.imageId.slice(0, 12),
          Command: '',
          LocalVolumes: 0,
          Size: humanSize(c.size),
          Created: '',
          Status: '',
          Names: c.name,
        })),
        { headers: { ID: 'CONTAINER ID' } },
      );
      out += '\nLocal Volumes space usage:\n\n';
      out += renderRows('table {{.VolumeName}}\t{{.Links}}\t{{.Size}}', [], {});
      process.stdout.write(out);
      return;
    }
    if (isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(summary)}\n`);
      return;
    }
    const format =
      flags.format ?? 'table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';
    process.stdout.write(renderRows(format, summary, { name: 'df' }));
  });
}

declare const SKIFF_VERSION: string;

function versionData() {
  const p = hostPlatform();
  return {
    Client: {
      APIVersion: SKIFF_VERSION,
      Version: SKIFF_VERSION,
      NodeVersion: process.version,
      GitCommit: '',
      BuiltTime: '',
      Built: 0,
      OsArch: `${p.os}/${p.architecture}`,
      Os: p.os,
    },
  };
}

export async function versionCommand(flags: { format?: string }): Promise<void> {
  const data = versionData();
  if (isJsonFormat(flags.format)) {
    process.stdout.write(`${renderJson(data, { indent: '' })}\n`);
    return;
  }
  if (flags.format !== undefined) {
    process.stdout.write(renderTemplate(flags.format, data, { name: 'version' }));
    return;
  }
  const c = data.Client;
  process.stdout.write(
    [
      `Client:       Skiff Engine`,
      `Version:      ${c.Version}`,
      `API Version:  ${c.APIVersion}`,
      `Node Version: ${c.NodeVersion}`,
      `OS/Arch:      ${c.OsArch}`,
      '',
    ].join('\n'),
  );
}

async function registriesSection(): Promise<Record<string, unknown>> {
  const { loadRegistriesConf } = await import('@skiff/registry');
  const conf = await loadRegistriesConf();
  const out: Record<string, unknown> = {};
  for (const r of conf.registries) {
    const entry = r as unknown as Record<string, unknown>;
    out[String(entry.prefix ?? entry.location)] = {
      Blocked: Boolean(entry.blocked),
      Insecure: Boolean(entry.insecure),
      Location: entry.location,
      MirrorByDigestOnly: false,
      Mirrors: (entry.mirrors as unknown[] | undefined) ?? null,
      Prefix: entry.prefix ?? entry.location,
      PullFromMirror: '',
    };
  }
  if (conf.unqualifiedSearchRegistries.length > 0) out.search = conf.unqualifiedSearchRegistries;
  return out;
}

async function distribution(): Promise<Record<string, string>> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
    return {
      codename: get('VERSION_CODENAME'),
      distribution: get('ID'),
      version: get('VERSION_ID'),
    };
  } catch {
    return { distribution: 'unknown', version: 'unknown' };
  }
}

async function infoData(store: Store): Promise<Record<string, unknown>> {
  const p = hostPlatform();
  const up = Math.floor((await import('node:os')).uptime());
  const containers = store.listContainers();
  return {
    host: {
      arch: p.architecture,
      cpus: cpus().length,
      distribution: await distribution(),
      hostname: hostname(),
      kernel: release(),
      memFree: freemem(),
      memTotal: totalmem(),
      os: p.os,
      rootless: store.rootless,
      uptime: `${Math.floor(up / 3600)}h ${Math.floor((up % 3600) / 60)}m ${up % 60}.00s`,
    },
    store: {
      configFile: process.env.SKIFF_STORAGE_CONF ?? '',
      containerStore: {
        number: containers.length,
        paused: 0,
        running: 0,
        stopped: containers.length,
      },
      graphDriverName: store.driver,
      graphOptions: {},
      graphRoot: store.root,
      graphStatus: {},
      imageCopyTmpDir: process.env.TMPDIR ?? '/tmp',
      imageStore: { number: store.listImages().length },
      runRoot: store.runroot,
      volumePath: `${store.root}/volumes`,
    },
    registries: await registriesSection(),
    version: versionData().Client,
  };
}

/** podman's template field names: the JSON keys with a capital first letter. */
function templateView(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(templateView);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k[0]!.toUpperCase() + k.slice(1)] = templateView(v);
    }
    return out;
  }
  return value;
}

export async function infoCommand(
  flags: { format?: string },
  globals: GlobalOptions,
): Promise<void> {
  await storeOptions(globals);
  await withStore(globals, async (store) => {
    const data = await infoData(store);
    if (isJsonFormat(flags.format)) {
      process.stdout.write(`${renderJson(data)}\n`);
      return;
    }
    if (flags.format !== undefined) {
      process.stdout.write(renderTemplate(flags.format, templateView(data), { name: 'info' }));
      return;
    }
    process.stdout.write(stringifyYaml(data));
  });
}
