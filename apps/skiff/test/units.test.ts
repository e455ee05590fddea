import { describe, expect, it } from 'vitest';
import { applyChange, type ContainerConfig } from '../src/changes.js';
import { splitName } from '../src/image-info.js';
import { humanDuration, humanSize, imageSize } from '../src/units.js';

describe('sizes and ages as podman prints them', () => {
  it('writes decimal sizes with three or four significant digits', () => {
    expect(imageSize(2131132)).toBe('2.13 MB');
    expect(imageSize(11413)).toBe('11.4 kB');
    expect(imageSize(10240)).toBe('10.2 kB');
    expect(imageSize(0)).toBe('0 B');
    expect(humanSize(2131132)).toBe('2.131MB');
    expect(humanSize(4263000)).toBe('4.263MB');
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(999)).toBe('999B');
  });

  it('writes ages like go-units HumanDuration', () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(1000)).toBe('1 second');
    expect(humanDuration(18_000)).toBe('18 seconds');
    expect(humanDuration(60_000)).toBe('About a minute');
    expect(humanDuration(5 * 60_000)).toBe('5 minutes');
    expect(humanDuration(3_600_000)).toBe('About an hour');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(humanDuration(56 * 365 * 86_400_000)).toBe('56 years');
  });
});

describe('--change instructions', () => {
  it('applies exec and shell forms, ENV, EXPOSE, LABEL, VOLUME, WORKDIR, USER', () => {
    const c: ContainerConfig = {};
    applyChange(c, 'CMD ["/bin/sh"]');
    applyChange(c, 'ENTRYPOINT echo hi');
    applyChange(c, 'ENV A=b C="d e"');
    applyChange(c, 'ENV LEGACY value with spaces');
    applyChange(c, 'EXPOSE 80 53/udp');
    applyChange(c, 'LABEL x=y "a b"=c');
    applyChange(c, 'VOLUME ["/data", "/logs"]');
    applyChange(c, 'WORKDIR=/w');
    applyChange(c, 'WORKDIR sub');
    applyChange(c, 'USER 1000:1000');
    applyChange(c, 'STOPSIGNAL SIGTERM');
    expect(c).toEqual({
      Cmd: ['/bin/sh'],
      Entrypoint: ['/bin/sh', '-c', 'echo hi'],
      Env: ['A=b', 'C=d e', 'LEGACY=value with spaces'],
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      Labels: { x: 'y', 'a b': 'c' },
      Volumes: { '/data': {}, '/logs': {} },
      WorkingDir: '/w/sub',
      User: '1000:1000',
      StopSignal: 'SIGTERM',
    });
  });

  it('refuses instructions import does not take, naming them', () => {
    expect(() => applyChange({}, 'FROM busybox')).toThrow('invalid change "FROM busybox"');
    expect(() => applyChange({}, 'EXPOSE eighty')).toThrow('invalid port "eighty"');
  });
});

describe('image names', () => {
  it('splits repository and tag; digest names have no tag', () => {
    expect(splitName('docker.io/library/busybox:1.36')).toEqual({
      repository: 'docker.io/library/busybox',
      tag: '1.36',
    });
    expect(splitName('localhost:5000/a/b:v1')).toEqual({
      repository: 'localhost:5000/a/b',
      tag: 'v1',
    });
    expect(splitName(`quay.io/x@sha256:${'a'.repeat(64)}`)).toEqual({
      repository: 'quay.io/x',
      tag: '<none>',
    });
  });
});
