import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The directions of DESIGN.md: each workspace package may use only the packages listed here.
const ALLOWED: Record<string, readonly string[]> = {
  'oci-image': [],
  sys: [],
  archive: ['oci-image', 'sys'],
  registry: ['oci-image'],
  storage: ['oci-image', 'archive', 'sys'],
  transports: ['oci-image', 'archive', 'registry', 'storage'],
  runtime: ['oci-image', 'archive', 'storage', 'sys'],
  builder: ['oci-image', 'archive', 'storage', 'runtime', 'registry', 'transports', 'sys'],
  // cli-kit holds what the three CLIs share, commands like login included; skiff-image uses it,
  // so it stays below runtime and builder.
  'cli-kit': ['oci-image', 'registry', 'transports'],
};
// Apps may use any package, but skiff-image stays a registry/transport tool.
const APP_FORBIDDEN: Record<string, readonly string[]> = {
  'skiff-image': ['runtime', 'builder'],
};

const root = join(import.meta.dirname, '..', '..');

function workspaceDirs(kind: 'packages' | 'apps'): string[] {
  return readdirSync(join(root, kind)).filter((d) => statSync(join(root, kind, d)).isDirectory());
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** The @skiff/* packages a workspace member declares and imports from its src/. */
function skiffDependencies(dir: string): { declared: Set<string>; imported: Map<string, string> } {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const declared = new Set(
    Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies })
      .filter((n) => n.startsWith('@skiff/'))
      .map((n) => n.slice('@skiff/'.length)),
  );
  const imported = new Map<string, string>();
  for (const file of sourceFiles(join(dir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]@skiff\/([a-z0-9-]+)/g)) {
      imported.set(m[1]!, relative(root, file));
    }
  }
  return { declared, imported };
}

function transitive(name: string, seen = new Set<string>()): Set<string> {
  for (const dep of skiffDependencies(join(root, 'packages', name)).declared) {
    if (!seen.has(dep)) {
      seen.add(dep);
      transitive(dep, seen);
    }
  }
  return seen;
}

describe('dependency directions of DESIGN.md', () => {
  for (const name of workspaceDirs('packages')) {
    it(`packages/${name} uses only the packages below it`, () => {
      expect(Object.keys(ALLOWED), `packages/${name} is not in DESIGN.md's list`).toContain(name);
      const { declared, imported } = skiffDependencies(join(root, 'packages', name));
      for (const dep of declared)
        expect(ALLOWED[name], `${name} declares @skiff/${dep}`).toContain(dep);
      for (const [dep, file] of imported) {
        expect(ALLOWED[name], `${file} imports @skiff/${dep}`).toContain(dep);
        expect([...declared], `${file} imports @skiff/${dep} without declaring it`).toContain(dep);
      }
    });
  }

  for (const app of workspaceDirs('apps')) {
    it(`apps/${app} declares what it imports and avoids what it must not use`, () => {
      const { declared, imported } = skiffDependencies(join(root, 'apps', app));
      for (const [dep, file] of imported) {
        expect([...declared], `${file} imports @skiff/${dep} without declaring it`).toContain(dep);
      }
      const reach = new Set<string>();
      for (const dep of declared) {
        reach.add(dep);
        for (const t of transitive(dep)) reach.add(t);
      }
      for (const forbidden of APP_FORBIDDEN[app] ?? []) {
        expect([...reach], `${app} reaches @skiff/${forbidden}`).not.toContain(forbidden);
      }
    });
  }
});
