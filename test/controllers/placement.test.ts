// The placement controller against real stores: SQLite for the rules, PostgreSQL for two servers
// placing at once. Rows are inserted directly because they are the controller's input; hosts come in
// through the agent's own registration call.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { registerHost } from '../../src/agent/registration.ts';
import { formatIp, parseCidr, parseIp, vSwitchUsableRange } from '../../src/core/cidr.ts';
import { DEFAULT_CONFIG } from '../../src/core/config.ts';
import { KIND, type ContainerGroupData, type EipData, type HostData, type VSwitchData } from '../../src/core/model.ts';
import { placeGroup, placementController } from '../../src/controllers/placement.ts';
import { openStore } from '../../src/store/sql-store.ts';
import type { Store } from '../../src/store/store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { $Eci, EciClient } from '../helpers/sdk.ts';
import { startServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const H = 'cn-hangzhou-h';
const I = 'cn-hangzhou-i';
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
/** A valid host id (base-32: digits become letters) that reads like its name in failures. */
const hostId = (n: number | string) => `host-${String(n).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]).padStart(20, 'a')}`;
const noRandom = (n: number) => new Uint8Array(n);

function groupData(id: string, over: Partial<ContainerGroupData>): ContainerGroupData {
  return {
    ContainerGroupId: id, ContainerGroupName: id, RegionId: REGION, ZoneId: H, VpcId: 'vpc-1', VSwitchId: 'vsw-h', VSwitchIds: ['vsw-h'],
    ScheduleStrategy: 'VSwitchOrdered', SecurityGroupIds: ['sg-1'], EniInstanceId: `eni-${id}`, IntranetIp: '', InternetIp: '', EipAllocationId: '',
    Cpu: 2, Memory: 4, InstanceType: '', RestartPolicy: 'Always', Containers: [], InitContainers: [], Volumes: [], DnsPolicy: '',
    DnsConfig: { NameServers: [], Searches: [], Options: [] }, HostAliases: [], HostName: '', NtpServers: [], Sysctls: [],
    TerminationGracePeriodSeconds: 30, ActiveDeadlineSeconds: 0, ShareProcessNamespace: false, EphemeralStorage: 0, CorePattern: '',
    IngressBandwidth: 0, EgressBandwidth: 0, MaxPendingMinute: 240, ImageRegistryCredentials: [], PlainHttpRegistries: [], InsecureRegistries: [],
    AutoMatchImageCache: false, ImageSnapshotId: '', OverheadReservation: false, AutoCreateEip: false, EipBandwidth: 0, EipISP: '',
    EipCommonBandwidthPackage: '', ResourceGroupId: '', Tags: [], CreationTime: '2026-01-01T00:00:00Z', StatusTime: '2026-01-01T00:00:00Z',
    SucceededTime: '', FailedTime: '', Generation: 1, ...over,
  };
}

/** A store with a VPC's vSwitches (rows + IPAM) for account `acct`, and helpers to add groups and hosts. */
function fixture(store: Store) {
  const vSwitches = new Map<string, VSwitchData>();
  return {
    store,
    async vSwitch(id: string, zoneId: string, cidr: string, account = 'acct') {
      const data: VSwitchData = { VSwitchId: id, VpcId: 'vpc-1', ZoneId: zoneId, CidrBlock: cidr, VSwitchName: id, Description: '', IsDefault: false, CreationTime: '2026-01-01T00:00:00Z', Tags: [] };
      vSwitches.set(id, data);
      await store.insert({ kind: KIND.vSwitch, id, account, region: REGION, name: id, status: 'Available', parent: 'vpc-1', createdAt: data.CreationTime, data });
    },
    /** A group as CreateContainerGroup leaves it: Scheduling, with a private IP in its first vSwitch. */
    async group(id: string, over: Partial<ContainerGroupData> = {}, account = 'acct', status = 'Scheduling') {
      const vswId = over.VSwitchId ?? over.VSwitchIds?.[0] ?? 'vsw-h';
      const vsw = vSwitches.get(vswId)!;
      const ip = await store.allocateIp(vswId, [vSwitchUsableRange(parseCidr(vsw.CidrBlock)!)], id);
      assert.notEqual(ip, undefined, `fixture: ${vswId} has room`);
      const data = groupData(id, { VSwitchId: vswId, VSwitchIds: [vswId], ZoneId: vsw.ZoneId, IntranetIp: formatIp(ip!), ...over });
      await store.insert({ kind: KIND.containerGroup, id, account, region: REGION, name: id, status, parent: vswId, createdAt: data.CreationTime, data });
    },
    host(n: number | string, zoneId: string, cpu: number, memory: number, now = T0) {
      return registerHost(store, { hostId: hostId(n), zoneId, regionId: REGION, cpu, memory, agentEndpoint: '127.0.0.1:0' }, now);
    },
    get: (id: string) => store.get<ContainerGroupData>(KIND.containerGroup, id).then((g) => g!),
    events: async (id: string) => (await store.listEvents([id])).map((e) => [e.type, e.reason, e.message]),
  };
}

async function sqlite() {
  const dir = mkdtempSync(join(tmpdir(), 'placement-'));
  const store = await openStore(join(dir, 's.db'));
  return {
    ...fixture(store),
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const pass = (store: Store, now: Date, random = noRandom) => placementController({ store, config: DEFAULT_CONFIG }, { random }).reconcile(now);

describe('placement controller (SQLite)', () => {
  it('keeps groups Scheduling while no host exists, and fails them after MaxPendingMinute', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.group('eci-wait');
      await s.group('eci-short', { MaxPendingMinute: 10 });
      await pass(s.store, at(9 * 60_000));
      for (const id of ['eci-wait', 'eci-short']) {
        const g = await s.get(id);
        assert.equal(g.status, 'Scheduling');
        assert.equal(g.version, 1, 'nothing written while waiting');
      }
      await pass(s.store, at(10 * 60_000));
      const short = await s.get('eci-short');
      assert.equal(short.status, 'ScheduleFailed');
      assert.equal(short.data.FailedTime, '2026-01-01T00:10:00Z');
      assert.equal(short.data.StatusTime, '2026-01-01T00:10:00Z');
      assert.deepEqual(await s.events('eci-short'), [
        ['Warning', 'ScheduleFailed', 'The container group could not be placed: no host has registered in the region within MaxPendingMinute (10 minutes).'],
      ]);
      assert.equal(short.data.IntranetIp, '10.0.1.3', 'a failed group keeps its address until it is deleted');
      assert.equal((await s.get('eci-wait')).status, 'Scheduling', 'the default 240 minutes have not passed');
    } finally {
      await s.close();
    }
  });

  it('one controller without hosts picks up groups created between passes and fails each at its own deadline', async () => {
    const s = await sqlite();
    try {
      const c = placementController({ store: s.store, config: DEFAULT_CONFIG }, { random: noRandom });
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.group('eci-a', { MaxPendingMinute: 10 });
      await c.reconcile(at(1 * 60_000));
      await s.group('eci-b', { MaxPendingMinute: 5 });
      await c.reconcile(at(2 * 60_000));
      assert.equal((await s.get('eci-b')).status, 'Scheduling');
      await c.reconcile(at(5 * 60_000));
      assert.equal((await s.get('eci-b')).status, 'ScheduleFailed', 'a group inserted after the full scan is seen');
      assert.equal((await s.get('eci-a')).status, 'Scheduling');
      await c.reconcile(at(10 * 60_000));
      assert.equal((await s.get('eci-a')).status, 'ScheduleFailed');
      assert.equal((await s.get('eci-b')).version, 2, 'a failed group is not written again');
    } finally {
      await s.close();
    }
  });

  it('places a group on a Ready host of its zone: Pending, HostId, Scheduled event, host version bumped', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.group('eci-1');
      const host = await s.host(1, H, 8, 16);
      await pass(s.store, at(1000));
      const g = await s.get('eci-1');
      assert.equal(g.status, 'Pending');
      assert.deepEqual([g.data.HostId, g.data.HostStatus, g.data.VSwitchId, g.data.ZoneId, g.data.IntranetIp, g.parent], [hostId(1), 'Ready', 'vsw-h', H, '10.0.1.2', 'vsw-h']);
      assert.equal(g.data.StatusTime, '2026-01-01T00:00:01Z');
      assert.deepEqual(await s.events('eci-1'), [['Normal', 'Scheduled', `Successfully assigned eci-1 to ${hostId(1)}`]]);
      assert.equal((await s.store.get<HostData>(KIND.host, host.id))!.version, host.version + 1);
      assert.equal(await s.store.ipOwner('vsw-h', parseIp('10.0.1.2')!), 'eci-1', 'the address stays');
      // Converged: a second pass writes nothing.
      await pass(s.store, at(2000));
      assert.equal((await s.get('eci-1')).version, g.version);
    } finally {
      await s.close();
    }
  });

  it('never overcommits a host, frees the capacity of final groups, and names the shortage', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.host(1, H, 4, 8);
      for (const id of ['eci-a', 'eci-b', 'eci-c']) await s.group(id);
      await pass(s.store, at(1000));
      assert.deepEqual(
        await Promise.all(['eci-a', 'eci-b', 'eci-c'].map(async (id) => (await s.get(id)).status)),
        ['Pending', 'Pending', 'ScheduleFailed'],
        'placed oldest first',
      );
      const failed = await s.get('eci-c');
      assert.equal(failed.data.HostId, undefined);
      assert.deepEqual(await s.events('eci-c'), [
        ['Warning', 'ScheduleFailed', 'The container group could not be placed: no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free.'],
      ]);

      // eci-a finishes: its 2 vCPU / 4 GiB are free again.
      const a = await s.get('eci-a');
      a.status = 'Succeeded';
      await s.store.update(a);
      await s.group('eci-d');
      await pass(s.store, at(2000));
      assert.equal((await s.get('eci-d')).status, 'Pending');
      assert.equal((await s.get('eci-d')).data.HostId, hostId(1));
    } finally {
      await s.close();
    }
  });

  it('skips Unhealthy hosts and prefers the host with the most free memory', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.host('sick', H, 64, 256);
      const sick = (await s.store.get<HostData>(KIND.host, hostId('sick')))!;
      sick.status = 'Unhealthy';
      sick.data = { ...sick.data, Status: 'Unhealthy' };
      await s.store.update(sick);
      await s.host('small', H, 8, 8);
      await s.host('big', H, 4, 32);
      await s.group('eci-1');
      await pass(s.store, at(1000));
      assert.equal((await s.get('eci-1')).data.HostId, hostId('big'));
    } finally {
      await s.close();
    }
  });

  it('moves the group to the vSwitch of the zone that has a host: new address there, old one released, EIP follows', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.vSwitch('vsw-i', I, '10.0.2.0/24');
      await s.host(1, I, 8, 16);
      await s.group('eci-1', { VSwitchIds: ['vsw-h', 'vsw-i'], EipAllocationId: 'eip-1' });
      const eipData = { AllocationId: 'eip-1', IpAddress: '203.0.113.5', InstanceId: 'eci-1', InstanceType: 'EciInstance', PrivateIpAddress: '10.0.1.2', VpcId: 'vpc-1' };
      await s.store.insert({ kind: KIND.eip, id: 'eip-1', account: 'acct', region: REGION, name: '', status: 'Associating', parent: '', createdAt: '2026-01-01T00:00:00Z', data: eipData });
      assert.equal((await s.get('eci-1')).data.IntranetIp, '10.0.1.2');

      await pass(s.store, at(1000));
      const g = await s.get('eci-1');
      assert.equal(g.status, 'Pending');
      assert.deepEqual([g.data.HostId, g.data.VSwitchId, g.data.ZoneId, g.data.IntranetIp, g.parent], [hostId(1), 'vsw-i', I, '10.0.2.2', 'vsw-i']);
      assert.equal(await s.store.ipOwner('vsw-i', parseIp('10.0.2.2')!), 'eci-1');
      assert.equal(await s.store.ipOwner('vsw-h', parseIp('10.0.1.2')!), undefined, 'released in the old vSwitch');
      assert.equal((await s.store.get<EipData>(KIND.eip, 'eip-1'))!.data.PrivateIpAddress, '10.0.2.2');
      assert.deepEqual(await s.events('eci-1'), [
        ['Normal', 'SuccessfulAssignIp', 'Assigned private IP 10.0.2.2 in vSwitch vsw-i (cn-hangzhou-i), where a host had room; 10.0.1.2 in vSwitch vsw-h was released.'],
        ['Normal', 'Scheduled', `Successfully assigned eci-1 to ${hostId(1)}`],
      ]);
    } finally {
      await s.close();
    }
  });

  it('VSwitchOrdered: a vSwitch whose zone fits but has no free address is passed over for the next', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.vSwitch('vsw-full', H, '10.0.3.0/29');
      await s.vSwitch('vsw-i', I, '10.0.2.0/24');
      await s.host(1, H, 8, 16);
      // vsw-full: 3 usable addresses, all taken by others.
      for (const n of [2, 3, 4]) assert.equal(await s.store.allocateIp('vsw-full', [vSwitchUsableRange(parseCidr('10.0.3.0/29')!)], `other-${n}`), parseIp(`10.0.3.${n}`));
      await s.group('eci-1', { VSwitchIds: ['vsw-full', 'vsw-h', 'vsw-i'], VSwitchId: 'vsw-i', ZoneId: I });
      await pass(s.store, at(1000));
      const g = await s.get('eci-1');
      assert.equal(g.status, 'Pending');
      assert.deepEqual([g.data.VSwitchId, g.data.IntranetIp, g.data.HostId], ['vsw-h', '10.0.1.2', hostId(1)]);
      assert.equal(await s.store.ipOwner('vsw-i', parseIp('10.0.2.2')!), undefined);
    } finally {
      await s.close();
    }
  });

  it('VSwitchRandom keeps the vSwitch drawn at creation when its zone has room', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.vSwitch('vsw-i', I, '10.0.2.0/24');
      await s.host(1, H, 8, 16);
      await s.host(2, I, 8, 16);
      await s.group('eci-1', { VSwitchIds: ['vsw-h', 'vsw-i'], VSwitchId: 'vsw-i', ZoneId: I, ScheduleStrategy: 'VSwitchRandom' });
      await pass(s.store, at(1000));
      const g = await s.get('eci-1');
      assert.deepEqual([g.data.VSwitchId, g.data.IntranetIp, g.data.HostId], ['vsw-i', '10.0.2.2', hostId(2)]);
    } finally {
      await s.close();
    }
  });

  it('leaves placed, deleted and non-Scheduling groups alone', async () => {
    const s = await sqlite();
    try {
      await s.vSwitch('vsw-h', H, '10.0.1.0/24');
      await s.host(1, H, 8, 16);
      await s.group('eci-run', { HostId: hostId(1), HostStatus: 'Ready' }, 'acct', 'Running');
      await s.group('eci-failed', {}, 'acct', 'ScheduleFailed');
      assert.deepEqual(await placeGroup(s.store, 'eci-run', 'acct', at(1000), noRandom), { type: 'skipped' });
      assert.deepEqual(await placeGroup(s.store, 'eci-failed', 'acct', at(1000), noRandom), { type: 'skipped' });
      assert.deepEqual(await placeGroup(s.store, 'eci-gone', 'acct', at(1000), noRandom), { type: 'skipped' });
      assert.equal((await s.get('eci-run')).version, 1);
      assert.equal((await s.get('eci-failed')).version, 1);
    } finally {
      await s.close();
    }
  });
});

describe('placement controller (PostgreSQL, two servers)', () => {
  let pg: TestPostgres | undefined;
  let skip: string | false = false;
  before(async () => {
    try {
      pg = await startPostgres();
    } catch (e) {
      skip = `PostgreSQL unavailable: ${(e as Error).message}`;
    }
  });
  after(() => pg?.stop());

  it('two controllers placing 50 groups at once on room for 30 place exactly 30', async (t) => {
    if (skip || !pg) return t.skip(skip || 'no PostgreSQL');
    const url = pg.createDatabase('placement_race');
    const a = await openStore(url);
    const b = await openStore(url);
    try {
      const s = fixture(a);
      // Ten accounts, so the groups' account locks do not serialise the placements: only the host rows can.
      const accounts = Array.from({ length: 10 }, (_, i) => `acct${i}`);
      await s.vSwitch('vsw-h', H, '10.0.0.0/20', 'acct0');
      for (const acct of accounts.slice(1)) {
        const data = { VSwitchId: `vsw-${acct}`, VpcId: 'vpc-1', ZoneId: H, CidrBlock: '10.0.0.0/20', VSwitchName: '', Description: '', IsDefault: false, CreationTime: '2026-01-01T00:00:00Z', Tags: [] };
        await a.insert({ kind: KIND.vSwitch, id: `vsw-${acct}`, account: acct, region: REGION, name: '', status: 'Available', parent: 'vpc-1', createdAt: data.CreationTime, data });
      }
      // Three hosts with room for 10 groups of 1 vCPU / 2 GiB each.
      for (const n of [1, 2, 3]) await s.host(n, H, 10, 20);
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const acct = accounts[i % accounts.length];
        const vsw = acct === 'acct0' ? 'vsw-h' : `vsw-${acct}`;
        const id = `eci-${String(i).padStart(3, '0')}`;
        const ip = await a.allocateIp(vsw, [vSwitchUsableRange(parseCidr('10.0.0.0/20')!)], id);
        const data = groupData(id, { Cpu: 1, Memory: 2, VSwitchId: vsw, VSwitchIds: [vsw], IntranetIp: formatIp(ip!) });
        await a.insert({ kind: KIND.containerGroup, id, account: acct, region: REGION, name: id, status: 'Scheduling', parent: vsw, createdAt: data.CreationTime, data });
        ids.push(id);
      }

      // Several groups in flight per server: two servers alone would mostly march in step over the same
      // oldest-first list, serialised by the account locks, and never race for a host.
      const opts = { random: noRandom, attempts: 2, concurrency: 5 };
      const serverA = placementController({ store: a, config: DEFAULT_CONFIG }, opts);
      const serverB = placementController({ store: b, config: DEFAULT_CONFIG }, opts);
      // Each server runs passes until nothing is Scheduling (bounded).
      const run = async (c: typeof serverA) => {
        for (let i = 0; i < 50; i++) {
          await c.reconcile(at(1000));
          if ((await a.count({ kind: KIND.containerGroup, status: 'Scheduling' })) === 0) return;
        }
      };
      await Promise.all([run(serverA), run(serverB)]);

      const groups = await a.list<ContainerGroupData>({ kind: KIND.containerGroup, ids });
      const by = (status: string) => groups.filter((g) => g.status === status);
      assert.equal(by('Pending').length, 30);
      assert.equal(by('ScheduleFailed').length, 20);
      const perHost = new Map<string, number>();
      for (const g of by('Pending')) perHost.set(g.data.HostId!, (perHost.get(g.data.HostId!) ?? 0) + 1);
      assert.deepEqual([...perHost.values()], [10, 10, 10]);
      // Each group was placed exactly once: one Scheduled event each, and none on a failed one.
      for (const g of groups) {
        const reasons = (await a.listEvents([g.id])).map((e) => `${e.reason}x${e.count}`);
        assert.deepEqual(reasons, g.status === 'Pending' ? ['Scheduledx1'] : ['ScheduleFailedx1'], g.id);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('placement through the API (eci server, SQLite, ECI SDK)', () => {
  it('a group goes Pending on a registered host; one too big for it goes ScheduleFailed with the reason', async () => {
    const server = await startServer();
    // The agent's side: the same store the server uses, as `eci dev` shares its SQLite file.
    const store = await openStore(server.storeUrl);
    try {
      const key = server.key('alice');
      const eci = new EciClient(server.sdkConfig(key));
      const create = (name: string, cpu: number, memory: number) =>
        eci
          .createContainerGroup(new $Eci.CreateContainerGroupRequest({ regionId: REGION, containerGroupName: name, cpu, memory, container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image: 'busybox' })] }))
          .then((r) => r.body!.containerGroupId!);
      const describeOne = async (id: string) =>
        (await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }))).body!.containerGroups![0];
      const settle = async (id: string) => {
        for (let i = 0; i < 100; i++) {
          const g = await describeOne(id);
          if (g.status !== 'Scheduling') return g;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`${id} stayed Scheduling`);
      };

      await registerHost(store, { hostId: hostId(1), zoneId: H, regionId: REGION, cpu: 4, memory: 8, agentEndpoint: '' }, new Date());
      const fits = await create('fits', 2, 4);
      const g = await settle(fits);
      assert.equal(g.status, 'Pending');
      assert.equal(g.zoneId, H);
      assert.deepEqual(g.events!.map((e) => [e.type, e.reason, e.message]).at(-1), ['Normal', 'Scheduled', `Successfully assigned ${fits} to ${hostId(1)}`]);
      const raw = (await server.client(key).call('eci', 'DescribeContainerGroups', { ContainerGroupIds: JSON.stringify([fits]) })).ContainerGroups[0];
      assert.equal('HostId' in raw, false, 'the host is not a reference field');
      assert.equal((await store.get<ContainerGroupData>(KIND.containerGroup, fits))!.data.HostId, hostId(1));

      const big = await create('big', 4, 8);
      const f = await settle(big);
      assert.equal(f.status, 'ScheduleFailed');
      assert.match(f.failedTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual(f.events!.map((e) => [e.type, e.reason, e.message]).at(-1), [
        'Warning', 'ScheduleFailed', 'The container group could not be placed: no Ready host in zone cn-hangzhou-h has 4 vCPU and 8 GiB free.',
      ]);
      assert.equal(f.containers![0].currentState!.state, 'Terminated');
    } finally {
      await store.close();
      await server.close();
    }
  });
});
