// Pure parts of the container runtime: the OCI config renderer, the per-group file renderers, the log
// filter and image-name resolution. No kernel needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CAPABILITIES, processArgs, renderBundleConfig, resolveImageUser, type BundleInput } from '../../src/agent/runtime/bundle.ts';
import { isBusyboxImage, resolveImage, ImageNotFoundError, type ImageConfig } from '../../src/agent/runtime/busybox-image.ts';
import { configFilePath, parseResolvConf, quantityBytes, renderHosts, renderResolvConf } from '../../src/agent/runtime/files.ts';
import { filterLog } from '../../src/agent/runtime/logs.ts';
import { containerSpec, groupSpec } from './runtime-fixture.ts';

const image: ImageConfig = { name: 'busybox', rootfs: '/img', env: ['PATH=/bin', 'IMG=1'], entrypoint: [], cmd: ['sh'], workingDir: '', user: '', digest: '' };

function input(over: Partial<BundleInput> = {}): BundleInput {
  const container = containerSpec({ Name: 'app' });
  return {
    group: groupSpec({ ContainerGroupId: 'eci-abc', ContainerGroupName: 'web', IntranetIp: '10.1.2.3', Containers: [container] }),
    container,
    image,
    hostId: 'host-0123456789',
    hostIp: '192.0.2.10',
    nodeName: 'node-a',
    rootfs: '/state/c/rootfs',
    netnsPath: '/var/run/netns/01234567-eci-abc',
    hostsFile: '/state/g/etc/hosts',
    resolvConfFile: '/state/g/etc/resolv.conf',
    hostnameFile: '/state/g/etc/hostname',
    volumeDirs: {},
    ...over,
  };
}

test('process args compose like Kubernetes: Commands replace the entrypoint, Args alone replace the cmd', () => {
  const cases: [string[], string[], string[]][] = [
    [[], [], ['sh']],
    [['echo'], ['a', 'b'], ['echo', 'a', 'b']],
    [[], ['echo', 'x'], ['echo', 'x']],
    [['sleep', '5'], [], ['sleep', '5']],
  ];
  for (const [Commands, Args, want] of cases) assert.deepEqual(processArgs(containerSpec({ Name: 'a', Commands, Args }), image), want);
  // An image with an ENTRYPOINT (nginx-style: entrypoint script + CMD).
  const withEntrypoint: ImageConfig = { ...image, entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] };
  const ep: [string[], string[], string[]][] = [
    [[], [], ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']],
    [[], ['nginx', '-T'], ['/docker-entrypoint.sh', 'nginx', '-T']],
    [['sh', '-c'], ['echo hi'], ['sh', '-c', 'echo hi']],
    [['sh'], [], ['sh']],
  ];
  for (const [Commands, Args, want] of ep) assert.deepEqual(processArgs(containerSpec({ Name: 'a', Commands, Args }), withEntrypoint), want);
  const nothing: ImageConfig = { ...image, cmd: [] };
  assert.throws(() => processArgs(containerSpec({ Name: 'a', Commands: [], Args: [] }), nothing), /has no command/);
});

test('env: image env, HOSTNAME, container vars last; FieldRef resolved from the group and host', () => {
  const container = containerSpec({
    Name: 'app',
    EnvironmentVars: [
      { Key: 'POD_IP', Value: '', FieldPath: 'status.podIP' },
      { Key: 'HOST_IP', Value: '', FieldPath: 'status.hostIP' },
      { Key: 'POD_NAME', Value: '', FieldPath: 'metadata.name' },
      { Key: 'NODE', Value: '', FieldPath: 'spec.nodeName' },
      { Key: 'IMG', Value: 'overridden', FieldPath: '' },
    ],
  });
  const spec = renderBundleConfig(input({ container }));
  assert.deepEqual(spec.process.env, ['PATH=/bin', 'IMG=overridden', 'HOSTNAME=web', 'POD_IP=10.1.2.3', 'HOST_IP=192.0.2.10', 'POD_NAME=web', 'NODE=node-a']);
});

test('config.json: namespaces, netns path, cgroups path, limits, hostname, cwd, user, caps, mounts', () => {
  const container = containerSpec({
    Name: 'app',
    Cpu: 0.5,
    Memory: 0.25,
    WorkingDir: '/work',
    SecurityContext: { CapabilityAdds: ['NET_ADMIN'], ReadOnlyRootFilesystem: true, RunAsNonRoot: false, RunAsUser: 1000, RunAsGroup: 2000 },
    VolumeMounts: [
      { Name: 'data', MountPath: '/data', ReadOnly: false, SubPath: '', MountPropagation: 'None' },
      { Name: 'cfg', MountPath: '/etc/app', ReadOnly: true, SubPath: 'sub', MountPropagation: 'None' },
    ],
  });
  const group = groupSpec({ ContainerGroupId: 'eci-abc', HostName: 'myhost', Sysctls: [{ Name: 'net.core.somaxconn', Value: '1024' }], Containers: [container] });
  const spec = renderBundleConfig(input({ group, container, volumeDirs: { data: '/state/g/volumes/data', cfg: '/state/g/volumes/cfg' } }));
  assert.deepEqual(spec.linux.namespaces, [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/01234567-eci-abc' }]);
  assert.equal(spec.linux.cgroupsPath, '/eci/01234567/eci-abc/app');
  assert.deepEqual(spec.linux.resources.memory, { limit: 268435456 });
  assert.deepEqual(spec.linux.resources.cpu, { quota: 50000, period: 100000 });
  assert.deepEqual(spec.linux.sysctl, { 'net.core.somaxconn': '1024' });
  assert.equal(spec.hostname, 'myhost');
  assert.equal(spec.process.cwd, '/work');
  assert.deepEqual(spec.process.user, { uid: 1000, gid: 2000 });
  assert.equal(spec.process.noNewPrivileges, true);
  assert.equal(spec.process.terminal, false);
  assert.deepEqual(spec.root, { path: '/state/c/rootfs', readonly: true });
  assert.deepEqual(spec.process.capabilities.bounding, [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN']);
  assert.deepEqual(spec.process.capabilities.effective, spec.process.capabilities.bounding);
  const byDest = new Map(spec.mounts.map((m) => [m.destination, m]));
  assert.deepEqual(
    [...byDest.keys()],
    ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/data', '/etc/app'],
  );
  assert.ok(byDest.get('/sys')!.options.includes('ro'));
  assert.equal(byDest.get('/etc/hosts')!.source, '/state/g/etc/hosts');
  assert.deepEqual(byDest.get('/data'), { destination: '/data', type: 'bind', source: '/state/g/volumes/data', options: ['rbind', 'rprivate'] });
  assert.deepEqual(byDest.get('/etc/app'), { destination: '/etc/app', type: 'bind', source: '/state/g/volumes/cfg/sub', options: ['rbind', 'rprivate', 'ro'] });
});

test('config.json defaults: no limits of its own, root user, group name as hostname, image cwd', () => {
  const spec = renderBundleConfig(input());
  assert.equal(spec.linux.resources.memory, undefined);
  assert.equal(spec.linux.resources.cpu, undefined);
  assert.deepEqual(spec.process.user, { uid: 0, gid: 0 });
  assert.equal(spec.hostname, 'web');
  assert.equal(spec.process.cwd, '/');
  assert.deepEqual(spec.process.args, ['sh']);
  assert.equal(spec.root.readonly, false);
});

test('a volume mount naming an undeclared volume is refused', () => {
  const container = containerSpec({ Name: 'app', VolumeMounts: [{ Name: 'nope', MountPath: '/x', ReadOnly: false, SubPath: '', MountPropagation: 'None' }] });
  assert.throws(() => renderBundleConfig(input({ container })), /does not declare/);
});

test('/etc/hosts: localhost, own IP → hostname, HostAliases', () => {
  const text = renderHosts(
    groupSpec({ ContainerGroupId: 'eci-1', ContainerGroupName: 'web', HostName: 'h1', IntranetIp: '10.0.0.7', HostAliases: [{ Ip: '10.9.9.9', Hostnames: ['a.example', 'b.example'] }] }),
  );
  assert.match(text, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(text, /^10\.0\.0\.7\th1$/m);
  assert.match(text, /^10\.9\.9\.9\ta\.example\tb\.example$/m);
});

test('resolv.conf follows DnsPolicy and merges DnsConfig', () => {
  const base = parseResolvConf('# host\nnameserver 192.0.2.53\nsearch corp.example\noptions ndots:1 edns0\n');
  assert.deepEqual(base, { NameServers: ['192.0.2.53'], Searches: ['corp.example'], Options: [{ Name: 'ndots', Value: '1' }, { Name: 'edns0', Value: '' }] });
  const DnsConfig = { NameServers: ['198.51.100.1'], Searches: ['svc.example'], Options: [{ Name: 'ndots', Value: '5' }] };
  assert.equal(
    renderResolvConf({ DnsPolicy: '', DnsConfig }, base),
    'search corp.example svc.example\nnameserver 192.0.2.53\nnameserver 198.51.100.1\noptions ndots:5 edns0\n',
  );
  assert.equal(renderResolvConf({ DnsPolicy: 'None', DnsConfig }, base), 'search svc.example\nnameserver 198.51.100.1\noptions ndots:5\n');
  assert.equal(renderResolvConf({ DnsPolicy: 'Default', DnsConfig: { NameServers: [], Searches: [], Options: [] } }, base), 'search corp.example\nnameserver 192.0.2.53\noptions ndots:1 edns0\n');
  const many = { NameServers: ['198.51.100.1', '198.51.100.2', '198.51.100.3'], Searches: [], Options: [] };
  assert.equal(renderResolvConf({ DnsPolicy: '', DnsConfig: many }, base).match(/nameserver/g)!.length, 3);
});

test('config file paths stay inside their volume; quantities parse', () => {
  assert.equal(configFilePath('/v', 'a/b.txt'), '/v/a/b.txt');
  assert.equal(configFilePath('/v', '/abs.txt'), '/v/abs.txt');
  assert.throws(() => configFilePath('/v', '../x'), /leaves its volume/);
  assert.throws(() => configFilePath('/v', 'a/../../x'), /leaves its volume/);
  assert.equal(quantityBytes('64Mi'), 64 * 1024 * 1024);
  assert.equal(quantityBytes('1G'), 1e9);
  assert.equal(quantityBytes('100'), 100);
});

test('image names: busybox variants resolve, anything else is a Failed pull', () => {
  for (const name of ['busybox', 'busybox:latest', 'busybox:1.36', 'library/busybox', 'docker.io/library/busybox:latest', 'docker.io/busybox', 'busybox@sha256:abc'])
    assert.equal(isBusyboxImage(name), true, name);
  for (const name of ['nginx', 'alpine:3', 'registry.example/busybox', 'busyboxx', 'docker.io/library/nginx']) assert.equal(isBusyboxImage(name), false, name);
  assert.throws(() => resolveImage('/nonexistent', 'nginx:1.25'), (e: unknown) => e instanceof ImageNotFoundError && /Image "nginx:1\.25" is not present on this host/.test(e.message));
});

test('log filter: Tail, SinceSeconds, StartTime, Timestamps, LimitBytes', () => {
  const log = [
    '2026-01-01T00:00:00.000001000Z one',
    '2026-01-01T00:00:10.000000000Z two',
    '2026-01-01T00:00:20.000000000Z three',
    '2026-01-01T00:00:30.500000000Z four',
  ].join('\n') + '\n';
  const now = Date.parse('2026-01-01T00:00:35Z');
  assert.equal(filterLog(log, {}, now), 'one\ntwo\nthree\nfour\n');
  assert.equal(filterLog(log, { tail: 2 }, now), 'three\nfour\n');
  assert.equal(filterLog(log, { tail: 0 }, now), '');
  assert.equal(filterLog(log, { tail: 10 }, now), 'one\ntwo\nthree\nfour\n');
  assert.equal(filterLog(log, { sinceSeconds: 15 }, now), 'three\nfour\n');
  assert.equal(filterLog(log, { startTime: '2026-01-01T00:00:10Z' }, now), 'two\nthree\nfour\n');
  assert.equal(filterLog(log, { tail: 1, timestamps: true }, now), '2026-01-01T00:00:30.500000000Z four\n');
  assert.equal(filterLog(log, { limitBytes: 6 }, now), 'one\ntw');
  assert.equal(filterLog(log, { sinceSeconds: 15, tail: 1, limitBytes: 100 }, now), 'four\n');
  assert.equal(filterLog('', { tail: 3 }, now), '');
});

test("the image's USER: numeric, names from the image's passwd/group, and clear errors for unknown names", () => {
  const etc = { passwd: 'root:x:0:0::/root:/bin/sh\nnginx:x:101:101::/nonexistent:/bin/false\n', group: 'root:x:0:\nwww:x:33:\n' };
  const read = (f: 'passwd' | 'group') => etc[f];
  assert.equal(resolveImageUser('', read), undefined);
  assert.deepEqual(resolveImageUser('nginx', read), { uid: 101, gid: 101 });
  assert.deepEqual(resolveImageUser('1000', read), { uid: 1000, gid: 0 });
  assert.deepEqual(resolveImageUser('101', read), { uid: 101, gid: 101 });
  assert.deepEqual(resolveImageUser('nginx:www', read), { uid: 101, gid: 33 });
  assert.deepEqual(resolveImageUser('5:7', () => undefined), { uid: 5, gid: 7 });
  assert.throws(() => resolveImageUser('ghost', read), /unable to find user ghost/);
  assert.throws(() => resolveImageUser('nginx:nogroup', read), /unable to find group nogroup/);
});
