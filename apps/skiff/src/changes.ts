// --change instructions (Dockerfile syntax) applied to an image config, as podman import and
// commit accept them: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
// WORKDIR.
import { UsageError } from '@skiff/cli-kit';

export type ContainerConfig = Record<string, unknown>;

const INSTRUCTIONS = [
  'CMD',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'LABEL',
  'ONBUILD',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
];

/** A JSON array of strings, or undefined when `text` is not one (shell form). */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // Not JSON: shell form.
  }
  return undefined;
}

function unquote(s: string): string {
  if (s.length >= 2 && ((s[0] === '"' && s.at(-1) === '"') || (s[0] === "'" && s.at(-1) === "'"))) {
    return s.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return s;
}

/** Splits `a=b "c d"=e f='g h'` into words, keeping quoted parts together. */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g;
  for (const m of text.matchAll(re)) out.push(m[0]);
  return out;
}

function keyValues(instruction: string, text: string): [string, string][] {
  const parts = words(text);
  if (parts.length === 0) throw new UsageError(`${instruction} requires at least one argument`);
  if (!parts[0]!.includes('=')) {
    // Legacy form: KEY VALUE...
    const value = text.slice(text.indexOf(parts[0]!) + parts[0]!.length).trim();
    return [[parts[0]!, unquote(value)]];
  }
  return parts.map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`${instruction}: "${p}" is not KEY=VALUE`);
    return [unquote(p.slice(0, eq)), unquote(p.slice(eq + 1))];
  });
}

/** Applies one --change value to `config` (a Docker/OCI container config object). */
export function applyChange(config: ContainerConfig, change: string): void {
  const m = /^\s*([A-Za-z]+)(?:\s+|=)([\s\S]*)$/.exec(change);
  const instruction = m?.[1]?.toUpperCase();
  if (!m || !instruction || !INSTRUCTIONS.includes(instruction)) {
    throw new UsageError(`invalid change "${change}"`, {
      hint: `valid instructions: ${INSTRUCTIONS.join(', ')}`,
    });
  }
  const rest = m[2]!.trim();
  switch (instruction) {
    case 'CMD':
    case 'ENTRYPOINT': {
      const value = jsonArray(rest) ?? ['/bin/sh', '-c', rest];
      config[instruction === 'CMD' ? 'Cmd' : 'Entrypoint'] = value;
      break;
    }
    case 'ENV': {
      const env = [...((config.Env as string[] | undefined) ?? [])];
      for (const [k, v] of keyValues('ENV', rest)) {
        const i = env.findIndex((e) => e.startsWith(`${k}=`));
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      config.Env = env;
      break;
    }
    case 'EXPOSE': {
      const ports = { ...((config.ExposedPorts as Record<string, object> | undefined) ?? {}) };
      for (const p of words(rest)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) {
          throw new UsageError(`EXPOSE: invalid port "${p}"`);
        }
        ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
      }
      config.ExposedPorts = ports;
      break;
    }
    case 'LABEL': {
      const labels = { ...((config.Labels as Record<string, string> | undefined) ?? {}) };
      for (const [k, v] of keyValues('LABEL', rest)) labels[k] = v;
      config.Labels = labels;
      break;
    }
    case 'ONBUILD':
      config.OnBuild = [...((config.OnBuild as string[] | undefined) ?? []), rest];
      break;
    case 'STOPSIGNAL':
      config.StopSignal = rest;
      break;
    case 'USER':
      config.User = rest;
      break;
    case 'VOLUME': {
      const volumes = { ...((config.Volumes as Record<string, object> | undefined) ?? {}) };
      for (const v of jsonArray(rest) ?? words(rest).map(unquote)) volumes[v] = {};
      config.Volumes = volumes;
      break;
    }
    case 'WORKDIR': {
      const prev = (config.WorkingDir as string | undefined) ?? '/';
      config.WorkingDir = rest.startsWith('/') ? rest : `${prev.replace(/\/$/, '')}/${rest}`;
      break;
    }
  }
}
