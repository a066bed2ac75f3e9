// DescribeContainerGroupMetric / DescribeMultiContainerGroupMetric end to end with real counters:
// `eci server` + `eci agent`, a busybox group that burns a CPU, holds 62 MiB in its /dev/shm tmpfs and
// receives 1 MiB from the "Internet" through its EIP; the official SDK reads what the agent sampled from
// the group's cgroups and its instance netns. Root only (namespaces, mounts, runc).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/agent/net/exec.ts';
import { attachInternetClient, detachInternetClient, type InternetClient } from '../../src/agent/net/host.ts';
import { startAgentApi, callAgent, AgentApiError } from '../../src/agent/api.ts';
import { rejection } from '../helpers/server.ts';
import { $Eci, $Vpc, EciClient, VpcClient } from '../helpers/sdk.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { describeGroup as describeGroupOf } from './helpers/groups.ts';
import { until } from '../helpers/wait.ts';

const REGION = 'cn-hangzhou';
const MIB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('container group metrics end to end', { skip: isRoot ? false : 'needs root (network namespaces, mounts, runc)' }, () => {
  let cluster: TestCluster;
  let eci: EciClient;
  let vpc: VpcClient;
  let internet: InternetClient | undefined;

  before(async () => {
    cluster = await startCluster();
    const key = cluster.server.key('metric');
    eci = new EciClient(cluster.server.sdkConfig(key));
    vpc = new VpcClient(cluster.server.sdkConfig(key));
  });
  after(async () => {
    if (process.env.ECI_TEST_DEBUG) console.error(cluster?.agent.output());
    if (internet) await detachInternetClient(internet);
    await cluster?.destroy();
  });

  const describeGroup = (id: string) => describeGroupOf(eci, id);
  const metric = async (id: string, extra: Record<string, string> = {}) =>
    (await eci.describeContainerGroupMetric(new $Eci.DescribeContainerGroupMetricRequest({ regionId: REGION, containerGroupId: id, ...extra }))).body!;
  const latest = async (id: string) => {
    const body = await metric(id);
    assert.equal(body.containerGroupId, id);
    return body.records![body.records!.length - 1];
  };
  const eth0 = (r: { network?: { interfaces?: { name?: string; rxBytes?: number }[] } }) => r.network?.interfaces?.find((i) => i.name === 'eth0');

  it('reports the CPU, memory and network a running group really uses, and refuses a group that does not run', async () => {
    const created = await eci.createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: 'burner',
        cpu: 1,
        memory: 0.5,
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 1,
        autoCreateEip: true,
        eipBandwidth: 50,
        container: [
          new $Eci.CreateContainerGroupRequestContainer({
            name: 'app',
            image: 'busybox',
            // (-e: a background job's stdin is /dev/null, which a plain `nc -l` would answer with EOF.)
            command: ['sh', '-c', "dd if=/dev/zero of=/dev/shm/x bs=1M count=62 2>/dev/null; nc -ll -p 8080 -e sh -c 'cat >/dev/null' & while :; do :; done"],
            port: [new $Eci.CreateContainerGroupRequestContainerPort({ port: 8080, protocol: 'TCP' })],
          }),
        ],
      }),
    );
    const id = created.body!.containerGroupId!;
    // A group that ran to its end has no metrics: IncorrectStatus, like its exec.
    const once = await eci.createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: 'once',
        cpu: 0.25,
        memory: 0.25,
        restartPolicy: 'Never',
        container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'job', image: 'busybox', command: ['true'] })],
      }),
    );
    const onceId = once.body!.containerGroupId!;

    await until('Running', async () => ((await describeGroup(id))?.status === 'Running' ? true : undefined));
    // dd has filled the tmpfs once the group's memory holds 60 MiB.
    const before = await until(
      '60 MiB in the group',
      async () => {
        const r = await latest(id);
        return (r.memory?.usageBytes ?? 0) >= 60 * MIB ? r : undefined;
      },
      15_000,
    );
    const rxBefore = eth0(before)?.rxBytes;
    assert.ok(rxBefore !== undefined, `eth0 in ${JSON.stringify(before.network)}`);

    // 1 MiB from the Internet to the EIP's open port 8080.
    const raw = await cluster.server.client(cluster.server.key('metric')).call('eci', 'DescribeContainerGroups', { ContainerGroupIds: JSON.stringify([id]) });
    const eipId = raw.ContainerGroups[0].EipInstanceId as string;
    const eipIp = await until('the EIP to be InUse', async () => {
      const e = (await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId: eipId }))).body!.eipAddresses!.eipAddress![0];
      return e.status === 'InUse' ? e.ipAddress! : undefined;
    });
    internet = await attachInternetClient(cluster.agent.hostId);
    const sent = MIB;
    await until(
      '1 MiB through the EIP',
      async () => {
        await run(['sh', '-c', `head -c ${sent} /dev/zero | busybox nc -w 1 ${eipIp} 8080`], { netns: internet!.netns, timeoutMs: 8000 }).catch(() => undefined);
        await sleep(1100); // the next query takes a fresh sample
        const r = await latest(id);
        return (eth0(r)?.rxBytes ?? 0) - rxBefore! >= sent ? r : undefined;
      },
      20_000,
    );

    await sleep(1100);
    const body = await metric(id);
    const records = body.records!;
    assert.ok(records.length >= 3, `several samples (${records.length})`);
    const times = records.map((r) => Date.parse(r.timestamp!));
    assert.deepEqual([...times].sort((a, b) => a - b), times, 'oldest first');
    const now = records[records.length - 1];
    if (process.env.ECI_TEST_DEBUG) console.error(JSON.stringify(now));
    assert.ok(Math.abs(Date.parse(now.timestamp!) - Date.now()) < 5000, `a fresh sample (${now.timestamp})`);

    // CPU: the busy loop takes most of the group's one core (its CFS quota).
    assert.equal(now.CPU!.limit, 1000);
    assert.ok(now.CPU!.usageNanoCores! > 0.3e9, `UsageNanoCores ${now.CPU!.usageNanoCores}`);
    assert.ok(now.CPU!.usageNanoCores! < 1.2e9, `at most the quota (${now.CPU!.usageNanoCores})`);
    assert.ok(now.CPU!.usageCoreNanoSeconds! > before.CPU!.usageCoreNanoSeconds!, 'cumulative CPU time grows');
    // Memory: the 62 MiB tmpfs file is page cache charged to the group, within its 512 MiB.
    const mem = now.memory!;
    assert.ok(mem.usageBytes! >= 60 * MIB, `UsageBytes ${mem.usageBytes}`);
    assert.ok(mem.cache! >= 60 * MIB, `Cache ${mem.cache}`);
    assert.ok(mem.workingSet! >= 60 * MIB && mem.workingSet! <= mem.usageBytes!, `WorkingSet ${mem.workingSet}`);
    assert.equal(mem.availableBytes, 512 * MIB - mem.workingSet!);
    // Network: what was sent arrived on the instance's eth0.
    const rx = eth0(now)!;
    assert.ok(rx.rxBytes! - rxBefore! >= sent, `RxBytes grew by ${rx.rxBytes! - rxBefore!}`);
    assert.ok((now.network!.interfaces ?? []).every((i) => i.name !== 'lo'), 'loopback is not an interface of the instance');
    // Per container: the same container, with the group's limits.
    const app = now.containers!.find((c) => c.name === 'app');
    assert.ok(app, `container app in ${JSON.stringify(now.containers)}`);
    assert.ok(app.CPU!.usageNanoCores! > 0.3e9, `app UsageNanoCores ${app.CPU!.usageNanoCores}`);
    assert.ok(app.memory!.usageBytes! >= 60 * MIB, `app UsageBytes ${app.memory!.usageBytes}`);

    // Time window and period.
    const future = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    assert.deepEqual((await metric(id, { startTime: future })).records, []);
    const bucketed = (await metric(id, { period: '600' })).records!;
    assert.ok(bucketed.length >= 1 && bucketed.length <= 2, `one record per 10 minutes (${bucketed.length})`);
    const badPeriod = await rejection(() => metric(id, { period: '7' }));
    assert.equal(badPeriod.code, 'InvalidParameter');
    const badTime = await rejection(() => metric(id, { startTime: 'yesterday' }));
    assert.equal(badTime.code, 'InvalidParameter');

    // The finished group: IncorrectStatus alone, an empty entry in a batch.
    await until('Succeeded', async () => ((await describeGroup(onceId))?.status === 'Succeeded' ? true : undefined));
    const refused = await rejection(() => metric(onceId));
    assert.equal(refused.code, 'IncorrectStatus');
    assert.equal(refused.statusCode, 400);
    const unknown = await rejection(() => metric('eci-doesnotexist000000'));
    assert.equal(unknown.code, 'InvalidContainerGroupId.NotFound');
    const multi = await eci.describeMultiContainerGroupMetric(
      new $Eci.DescribeMultiContainerGroupMetricRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id, onceId]), metricType: 'summary' }),
    );
    const datas = multi.body!.monitorDatas!;
    assert.deepEqual(datas.map((d) => d.containerGroupId), [id, onceId]);
    assert.equal(datas[0].records!.length, 1);
    assert.ok(datas[0].records![0].memory!.usageBytes! >= 60 * MIB);
    assert.deepEqual(datas[1].records, []);

    for (const g of [id, onceId]) await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: g }));
    await until('the groups to disappear', async () => ((await describeGroup(id)) === undefined && (await describeGroup(onceId)) === undefined ? true : undefined), 20_000);
    const left = async () => (await cluster.leftovers()).filter((l) => l !== `netns ${cluster.agent.hostNetns}` && l !== `netns ${internet?.netns}`);
    await until('no leftovers', async () => ((await left()).length === 0 ? true : undefined), 8000).catch(() => undefined);
    assert.deepEqual(await left(), []);
  });
});

// No kernel needed: the endpoint's contract with a stand-in sampler.
describe('agent local API: /v1/metrics', () => {
  it('serves the handler\'s records with the token, and 404 when the agent has no sampler', async () => {
    const record = { Timestamp: '2026-01-01T00:00:00Z', CPU: { UsageCoreNanoSeconds: 5 }, Memory: { AvailableBytes: 1, Cache: 2, Rss: 3, UsageBytes: 4, WorkingSet: 4 }, Network: { Interfaces: [] }, Disk: [], Filesystem: [], Containers: [] };
    const base = { readLog: async () => ({ ContainerName: '', Content: '' }), exec: async () => ({ output: '', exitCode: 0 }) };
    const withMetrics = await startAgentApi({ handlers: { ...base, metrics: async (req) => ({ ContainerGroupId: req.ContainerGroupId, Records: [record] }) } });
    const without = await startAgentApi({ handlers: base });
    try {
      const got = await callAgent<{ ContainerGroupId: string; Records: unknown[] }>(withMetrics.endpoint, withMetrics.token, '/v1/metrics', { ContainerGroupId: 'eci-1' });
      assert.deepEqual(got, { ContainerGroupId: 'eci-1', Records: [record] });
      const missing = await callAgent(withMetrics.endpoint, withMetrics.token, '/v1/metrics', {}).catch((e: unknown) => e);
      assert.ok(missing instanceof AgentApiError);
      assert.equal(missing.code, 'MissingParameter');
      const denied = await callAgent(withMetrics.endpoint, 'nope', '/v1/metrics', { ContainerGroupId: 'eci-1' }).catch((e: unknown) => e);
      assert.ok(denied instanceof AgentApiError);
      assert.equal(denied.status, 401);
      const none = await callAgent(without.endpoint, without.token, '/v1/metrics', { ContainerGroupId: 'eci-1' }).catch((e: unknown) => e);
      assert.ok(none instanceof AgentApiError);
      assert.equal(none.status, 404);
    } finally {
      await withMetrics.close();
      await without.close();
    }
  });
});
