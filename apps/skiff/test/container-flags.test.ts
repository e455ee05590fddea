import { describe, expect, it } from 'vitest';
import {
  commandText,
  containerFilter,
  containerOptions,
  type FilterInput,
  parseLogTime,
  pullPolicy,
  randomName,
  statusText,
} from '../src/container-flags.js';
import { separateContainerArgs } from '../src/program.js';

const ctx = {
  env: { HOME_VAR: 'from-host' },
  readFile: () => 'A=1\n# comment\nB\n',
};

describe('containerOptions (skiff run/create flags)', () => {
  it('maps flags to the runtime options', () => {
    const o = containerOptions(
      {
        env: ['X=1', 'HOME_VAR'],
        envFile: ['f'],
        user: 'nobody',
        workdir: '/tmp',
        volume: ['/srv:/data:ro'],
        tmpfs: ['/scratch'],
        memory: '64m',
        cpus: '1.5',
        pidsLimit: '100',
        ulimit: ['nofile=512:1024'],
        label: ['a=b', 'flag'],
        readOnly: true,
        rm: true,
        network: 'none',
        pid: 'host',
        stopTimeout: '3',
        entrypoint: '',
      },
      ['echo', 'hi'],
      ctx,
    );
    expect(o).toMatchObject({
      command: ['echo', 'hi'],
      entrypoint: [''],
      env: ['X=1', 'HOME_VAR=from-host'],
      envFile: ['A=1'],
      user: 'nobody',
      workdir: '/tmp',
      memory: 64 * 1024 * 1024,
      cpus: 1.5,
      pidsLimit: 100,
      ulimits: [{ name: 'nofile', soft: 512, hard: 1024 }],
      labels: { a: 'b', flag: '' },
      readOnly: true,
      autoRemove: true,
      network: 'none',
      pid: 'host',
      stopTimeout: 3,
    });
    expect(o.mounts).toEqual([
      expect.objectContaining({
        type: 'bind',
        source: '/srv',
        destination: '/data',
        readonly: true,
      }),
      expect.objectContaining({ type: 'tmpfs', destination: '/scratch' }),
    ]);
  });

  it('passes -i and -t through', () => {
    expect(containerOptions({ tty: true, interactive: true }, [], ctx)).toMatchObject({
      tty: true,
      interactive: true,
    });
  });

  it('defaults to the bridge network and maps -p, -P, --network-alias, --ip', () => {
    expect(containerOptions({}, [], ctx).network).toBe('bridge');
    const o = containerOptions(
      {
        network: 'front,back',
        publish: ['127.0.0.1:8080:80/udp', '9000:90'],
        publishAll: true,
        networkAlias: ['web'],
        ip: '10.90.0.5',
      },
      [],
      ctx,
    );
    expect(o).toMatchObject({
      network: 'front,back',
      publish: [
        { host_ip: '127.0.0.1', host_port: 8080, container_port: 80, protocol: 'udp', range: 1 },
        { host_ip: '', host_port: 9000, container_port: 90, protocol: 'tcp', range: 1 },
      ],
      publishAll: true,
      networkAliases: ['web'],
      ip: '10.90.0.5',
    });
    expect(containerOptions({ network: 'container:web' }, [], ctx).network).toBe('container:web');
    // podman drops port mappings with host/none networks.
    const host = containerOptions({ network: 'host', publish: ['80:80'] }, [], ctx);
    expect(host.network).toBe('host');
    expect(host.publish).toBeUndefined();
    expect(() => containerOptions({ network: 'none', networkAlias: ['x'] }, [], ctx)).toThrow(
      /bridge networks/,
    );
    expect(() => containerOptions({ ip: 'nope' }, [], ctx)).toThrow(/not an ip address/);
    expect(() => containerOptions({ network: 'none,front' }, [], ctx)).toThrow(
      /cannot be combined/,
    );
    expect(() => containerOptions({ network: 'slirp4netns' }, [], ctx)).toThrow(
      /not supported yet/,
    );
    expect(() => containerOptions({ publish: ['http'] }, [], ctx)).toThrow(/invalid/);
  });

  it('maps named and anonymous volumes', () => {
    const o = containerOptions({ volume: ['data:/srv:ro', '/cache'] }, [], ctx);
    expect(o.mounts).toEqual([
      expect.objectContaining({
        type: 'volume',
        source: 'data',
        destination: '/srv',
        readonly: true,
      }),
      expect.objectContaining({ type: 'volume', destination: '/cache' }),
    ]);
  });

  it('refuses bad values clearly', () => {
    expect(() => containerOptions({ cpus: 'x' }, [], ctx)).toThrow(/invalid argument/);
    expect(() => containerOptions({ rm: true, restart: 'always' }, [], ctx)).toThrow(/conflicts/);
  });

  it('reads --pull policies', () => {
    expect(pullPolicy(undefined)).toBe('missing');
    expect(pullPolicy('always')).toBe('always');
    expect(pullPolicy('never')).toBe('never');
    expect(() => pullPolicy('sometimes')).toThrow(/unsupported pull policy/);
  });
});

describe("podman's ps texts", () => {
  const now = Date.parse('2024-01-01T00:01:00Z');
  it('status', () => {
    expect(statusText({ status: 'created' }, now)).toBe('Created');
    expect(statusText({ status: 'running', startedAt: '2024-01-01T00:00:57Z' }, now)).toBe(
      'Up 3 seconds ago',
    );
    expect(statusText({ status: 'paused' }, now)).toBe('Paused');
    expect(
      statusText(
        {
          status: 'exited',
          exitCode: 3,
          startedAt: '2024-01-01T00:00:00Z',
          finishedAt: '2024-01-01T00:00:58Z',
        },
        now,
      ),
    ).toBe('Exited (3) 2 seconds ago');
  });
  it('command column cut at 17 characters', () => {
    expect(commandText(['sh', '-c', 'exit 3'], false)).toBe('sh -c exit 3');
    expect(commandText(['sh', '-c', 'while true; do sleep 1; done'], false)).toBe(
      'sh -c while true;...',
    );
    expect(commandText(['sh', '-c', 'while true; do sleep 1; done'], true)).toBe(
      'sh -c while true; do sleep 1; done',
    );
  });
  it('random names look like podman’s', () => {
    expect(randomName()).toMatch(/^[a-z]+_[a-z]+$/);
  });
});

describe('ps --filter', () => {
  const c: FilterInput = {
    id: 'abcdef0123',
    name: 'web-1',
    imageId: '421ad731c6ac',
    imageName: 'localhost/busybox:latest',
    labels: { app: 'web' },
    status: 'exited',
    exitCode: 3,
  };
  it('matches by id, name, label, status, exited and ancestor; keys are ANDed', () => {
    expect(containerFilter(['id=abc'])(c)).toBe(true);
    expect(containerFilter(['name=^web'])(c)).toBe(true);
    expect(containerFilter(['label=app=web', 'status=exited'])(c)).toBe(true);
    expect(containerFilter(['label=app=db'])(c)).toBe(false);
    expect(containerFilter(['exited=3'])(c)).toBe(true);
    expect(containerFilter(['status=running', 'status=exited'])(c)).toBe(true);
    expect(containerFilter(['status=running'])(c)).toBe(false);
    expect(containerFilter(['ancestor=busybox'])(c)).toBe(true);
    expect(() => containerFilter(['colour=red'])).toThrow(/invalid filter/);
  });
});

describe('logs --since/--until', () => {
  it('reads durations, unix times and RFC 3339', () => {
    const now = Date.parse('2024-01-01T01:00:00Z');
    expect(parseLogTime('--since', '10m', now).toISOString()).toBe('2024-01-01T00:50:00.000Z');
    expect(parseLogTime('--since', '1704067200', now).toISOString()).toBe(
      '2024-01-01T00:00:00.000Z',
    );
    expect(parseLogTime('--since', '2024-01-01T00:30:00Z', now).toISOString()).toBe(
      '2024-01-01T00:30:00.000Z',
    );
    expect(() => parseLogTime('--since', 'yesterday', now)).toThrow(/invalid value/);
  });
});

describe('separateContainerArgs', () => {
  it("ends skiff's flags at the image so the container's own flags pass through", async () => {
    const { Command } = await import('commander');
    const { registerContainerCommands } = await import('../src/container-commands.js');
    const root = new Command('skiff').option('--root <string>');
    registerContainerCommands(root, async () => {});
    expect(
      separateContainerArgs(root, [
        '--root',
        '/r',
        'run',
        '-d',
        '-e',
        'A=1',
        'img',
        'sh',
        '-c',
        'x',
      ]),
    ).toEqual(['--root', '/r', 'run', '-d', '-e', 'A=1', '--', 'img', 'sh', '-c', 'x']);
    expect(separateContainerArgs(root, ['container', 'exec', '-it', 'c', 'ls', '-l'])).toEqual([
      'container',
      'exec',
      '-it',
      '--',
      'c',
      'ls',
      '-l',
    ]);
    expect(separateContainerArgs(root, ['run', '--name=x', '-ePATH=/', 'img'])).toEqual([
      'run',
      '--name=x',
      '-ePATH=/',
      '--',
      'img',
    ]);
    expect(separateContainerArgs(root, ['ps', '-a'])).toEqual(['ps', '-a']);
  });
});
