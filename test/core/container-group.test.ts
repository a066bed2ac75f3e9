// Table tests of the pure container group rules: the status machine, the pod status projection,
// sizing and the validators.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canExec,
  canReadLogs,
  CONTAINER_GROUP_STATUSES,
  containersNeed,
  decodeBase64,
  GROUP_NAME_PATTERN,
  initialContainerState,
  isAbsolutePath,
  isContainedRelativePath,
  isFieldPath,
  isHostname,
  isNamespacedSysctl,
  isOnHost,
  isQuantity,
  mergeByKey,
  NAME_PATTERN,
  normalizeCapability,
  notRunningReason,
  parseSizeSpec,
  podPhase,
  projectPodStatus,
  qosClass,
  restartTarget,
  sizeGroup,
  updateTarget,
} from '../../src/core/container-group.ts';

describe('container group status machine', () => {
  it('maps every status to its Kubernetes phase (reference §2.3)', () => {
    const table: [string, string][] = [
      ['Scheduling', 'Pending'],
      ['ScheduleFailed', 'Failed'],
      ['Pending', 'Pending'],
      ['Running', 'Running'],
      ['Restarting', 'Pending'],
      ['Updating', 'Pending'],
      ['Terminating', 'Running'],
      ['Succeeded', 'Succeeded'],
      ['Failed', 'Failed'],
      ['Expired', 'Failed'],
      ['Bogus', 'Unknown'],
    ];
    for (const [status, phase] of table) assert.equal(podPhase(status), phase, status);
    assert.equal(CONTAINER_GROUP_STATUSES.length, 10);
  });

  it('says which actions each status allows', () => {
    // status → [restart target, update target, logs, exec, on a host]
    const table: [string, string | undefined, string | undefined, boolean, boolean, boolean][] = [
      ['Scheduling', undefined, 'Scheduling', false, false, false],
      ['ScheduleFailed', undefined, undefined, false, false, false],
      ['Pending', 'Restarting', 'Updating', true, false, true],
      ['Running', 'Restarting', 'Updating', true, true, true],
      ['Restarting', undefined, undefined, true, false, true],
      ['Updating', undefined, undefined, true, true, true],
      ['Terminating', undefined, undefined, true, false, true],
      ['Succeeded', undefined, undefined, true, false, true],
      ['Failed', undefined, undefined, true, false, true],
      ['Expired', undefined, undefined, false, false, false],
    ];
    for (const [status, restart, update, logs, exec, onHost] of table) {
      assert.equal(restartTarget(status), restart, `restart ${status}`);
      assert.equal(updateTarget(status), update, `update ${status}`);
      assert.equal(canReadLogs(status), logs, `logs ${status}`);
      assert.equal(canExec(status), exec, `exec ${status}`);
      assert.equal(isOnHost(status), onHost, `on host ${status}`);
    }
  });

  it('explains why a group is not running', () => {
    assert.match(notRunningReason('eci-1', 'Scheduling'), /eci-1 is Scheduling: no host runs it yet/);
    assert.match(notRunningReason('eci-1', 'ScheduleFailed'), /never ran/);
    assert.match(notRunningReason('eci-1', 'Succeeded'), /eci-1 is Succeeded/);
  });
});

describe('pod status projection', () => {
  const containers = [
    { Name: 'web', Image: 'nginx', Cpu: 1, Memory: 2 },
    { Name: 'side', Image: 'busybox', Cpu: 0, Memory: 0 },
  ];

  it('shows a Scheduling group as an unscheduled Pending pod with waiting containers', () => {
    const s = projectPodStatus({ status: 'Scheduling', statusTime: '2024-01-01T00:00:00Z', intranetIp: '172.16.0.2', containers });
    assert.equal(s.Phase, 'Pending');
    assert.equal(s.PodIp, '172.16.0.2');
    assert.deepEqual(s.PodIps, [{ Ip: '172.16.0.2' }]);
    assert.equal(s.HostIp, '');
    assert.equal(s.StartTime, '');
    assert.equal(s.QosClass, 'Burstable');
    assert.deepEqual(s.Conditions[0], {
      type: 'PodScheduled',
      status: 'False',
      Reason: 'Scheduling',
      Message: 'The container group is waiting for a host.',
      lastTransitionTime: '2024-01-01T00:00:00Z',
    });
    assert.equal(s.Conditions[1].type, 'Ready');
    assert.equal(s.Conditions[1].status, 'False');
    assert.deepEqual(
      s.ContainerStatuses.map((c) => [c.Name, c.Image, c.Ready, c.Started, c.RestartCount, c.State]),
      [
        ['web', 'nginx', false, false, 0, { Waiting: { Reason: 'Scheduling', Message: 'The container group is waiting for a host.' } }],
        ['side', 'busybox', false, false, 0, { Waiting: { Reason: 'Scheduling', Message: 'The container group is waiting for a host.' } }],
      ],
    );
  });

  it('shows a ScheduleFailed group as Failed with terminated containers', () => {
    const s = projectPodStatus({ status: 'ScheduleFailed', statusTime: 't', intranetIp: '', containers: containers.slice(0, 1) });
    assert.equal(s.Phase, 'Failed');
    assert.deepEqual(s.PodIps, []);
    assert.equal(s.Conditions[0].Reason, 'Unschedulable');
    assert.equal(s.ContainerStatuses[0].State.Terminated?.Reason, 'ScheduleFailed');
  });

  it('marks a placed group scheduled', () => {
    const s = projectPodStatus({ status: 'Pending', statusTime: 't', intranetIp: '10.0.0.2', containers });
    assert.equal(s.Conditions[0].status, 'True');
    assert.equal(s.ContainerStatuses[0].State.Waiting?.Reason, 'ContainerCreating');
  });

  it('derives the QoS class from the containers\' own limits', () => {
    assert.equal(qosClass([{ Cpu: 1, Memory: 1 }]), 'Guaranteed');
    assert.equal(qosClass([{ Cpu: 1, Memory: 1 }, { Cpu: 1, Memory: 0 }]), 'Burstable');
    assert.equal(qosClass([]), 'Burstable');
    assert.deepEqual(initialContainerState('Running'), { State: 'Waiting', Reason: 'ContainerCreating', Message: '' });
  });
});

describe('sizing', () => {
  it('computes what containers need as Kubernetes does (sum, or the largest init container)', () => {
    const table: [number[][], number[][], { Cpu: number; Memory: number }][] = [
      [[], [], { Cpu: 0, Memory: 0 }],
      [[[0.5, 1], [0.25, 0.5]], [], { Cpu: 0.75, Memory: 1.5 }],
      [[[0.1, 0.2], [0.2, 0.1]], [], { Cpu: 0.3, Memory: 0.3 }],
      [[[1, 1]], [[2, 0.5]], { Cpu: 2, Memory: 1 }],
    ];
    for (const [cs, inits, want] of table) {
      const toSpec = ([Cpu, Memory]: number[]) => ({ Cpu, Memory });
      assert.deepEqual(containersNeed(cs.map(toSpec), inits.map(toSpec)), want, JSON.stringify([cs, inits]));
    }
  });

  it('sizes the group: given, else the need, else 2 vCPU / 4 GiB; refuses a size below the need', () => {
    assert.deepEqual(sizeGroup({}, { Cpu: 0, Memory: 0 }), { Cpu: 2, Memory: 4 });
    assert.deepEqual(sizeGroup({}, { Cpu: 0.5, Memory: 0 }), { Cpu: 0.5, Memory: 4 });
    assert.deepEqual(sizeGroup({ Cpu: 4, Memory: 8 }, { Cpu: 1, Memory: 1 }), { Cpu: 4, Memory: 8 });
    assert.deepEqual(sizeGroup({ Cpu: 1 }, { Cpu: 2, Memory: 1 }), { field: 'Cpu', error: "The group's Cpu 1 is less than its containers need (2 vCPU)." });
    assert.equal((sizeGroup({ Memory: 1 }, { Cpu: 0, Memory: 2 }) as { field: string }).field, 'Memory');
    assert.equal((sizeGroup({ Cpu: 65 }, { Cpu: 0, Memory: 0 }) as { field: string }).field, 'Cpu');
    assert.equal((sizeGroup({ Memory: 513 }, { Cpu: 0, Memory: 0 }) as { field: string }).field, 'Memory');
  });

  it('parses <vCPU>-<memory>Gi specs and not ECS type names', () => {
    assert.deepEqual(parseSizeSpec('2-4Gi'), { Cpu: 2, Memory: 4 });
    assert.deepEqual(parseSizeSpec(' 0.5-1Gi '), { Cpu: 0.5, Memory: 1 });
    for (const bad of ['ecs.c6.large', '2-4', '2-4GB', '0-1Gi', '-1-2Gi', '']) assert.equal(parseSizeSpec(bad), undefined, bad);
  });
});

describe('validators', () => {
  it('checks group and container names', () => {
    for (const ok of ['ab', 'web-1', '0a', 'a'.repeat(128)]) assert.ok(GROUP_NAME_PATTERN.test(ok), ok);
    for (const bad of ['a', '-ab', 'ab-', 'Ab', 'a_b', 'a.b', 'a'.repeat(129), '']) assert.ok(!GROUP_NAME_PATTERN.test(bad), bad);
    for (const ok of ['a', 'c1', 'web-1']) assert.ok(NAME_PATTERN.test(ok), ok);
    for (const bad of ['-', 'a-', 'A', 'a b', 'a'.repeat(129)]) assert.ok(!NAME_PATTERN.test(bad), bad);
  });

  it('checks host names, paths, quantities and base64', () => {
    for (const ok of ['a', 'web-host', 'a.example.com', 'ntp1.Example.org']) assert.ok(isHostname(ok), ok);
    for (const bad of ['', '-a', 'a..b', 'a_b.com', 'x'.repeat(64), 'a b']) assert.ok(!isHostname(bad), bad);
    for (const ok of ['/', '/etc/app', '/a/./b']) assert.ok(isAbsolutePath(ok), ok);
    for (const bad of ['etc', '/a/../b', '', '/a\0b']) assert.ok(!isAbsolutePath(bad), JSON.stringify(bad));
    for (const ok of ['a', 'a/b.conf', 'sub/dir']) assert.ok(isContainedRelativePath(ok), ok);
    for (const bad of ['', '/a', '../a', 'a/../../b']) assert.ok(!isContainedRelativePath(bad), bad);
    for (const ok of ['256Mi', '1Gi', '1.5Gi', '500000', '1k']) assert.ok(isQuantity(ok), ok);
    for (const bad of ['1 Gi', 'Gi', '1GB', '-1Gi']) assert.ok(!isQuantity(bad), bad);
    assert.equal(decodeBase64('')?.length, 0);
    assert.equal(Buffer.from(decodeBase64('YT0xCg==')!).toString(), 'a=1\n');
    for (const bad of ['YT0xCg=', 'not base64!', 'YT0xC===', 'YQ', 'YR==']) assert.equal(decodeBase64(bad), undefined, bad);
  });

  it('checks downward-API fields, capabilities and sysctls', () => {
    for (const ok of ['status.podIP', 'metadata.name', "metadata.labels['app']", "metadata.annotations['a.b/c']", 'spec.nodeName']) assert.ok(isFieldPath(ok), ok);
    for (const bad of ['status.phase', 'spec.secret', "metadata.labels['']", 'metadata.labels']) assert.ok(!isFieldPath(bad), bad);
    assert.equal(normalizeCapability('net_admin'), 'NET_ADMIN');
    assert.equal(normalizeCapability('CAP_SYS_PTRACE'), 'SYS_PTRACE');
    for (const bad of ['SYS_ADMIN', 'SYS_MODULE', 'SYS_TIME', 'NET_BROADCASTX', '']) assert.equal(normalizeCapability(bad), undefined, bad);
    for (const ok of ['net.core.somaxconn', 'net.ipv4.ip_local_port_range', 'kernel.shmmax', 'kernel.msgmax', 'kernel.sem', 'fs.mqueue.msg_max']) assert.ok(isNamespacedSysctl(ok), ok);
    for (const bad of ['vm.swappiness', 'kernel.hostname', 'kernel.panic', 'fs.file-max', 'net']) assert.ok(!isNamespacedSysctl(bad), bad);
  });

  it('merges lists by key: updates replace in place, new keys append', () => {
    const base = [{ k: 'a', v: 1 }, { k: 'b', v: 2 }];
    assert.deepEqual(mergeByKey(base, [{ k: 'b', v: 20 }, { k: 'c', v: 3 }], (x) => x.k), [{ k: 'a', v: 1 }, { k: 'b', v: 20 }, { k: 'c', v: 3 }]);
    assert.deepEqual(mergeByKey(base, [], (x) => x.k), base);
    assert.deepEqual(base, [{ k: 'a', v: 1 }, { k: 'b', v: 2 }], 'the base is not changed');
  });
});
