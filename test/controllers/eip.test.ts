// The EIP controller: its planner table-tested (state in → transitions out), then a pass against a real store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatIp } from '../../src/core/cidr.ts';
import { DEFAULT_CONFIG } from '../../src/core/config.ts';
import { KIND, PUBLIC_IP_SCOPE, type ContainerGroupNetworkData, type EipData } from '../../src/core/model.ts';
import { applyEipTransition, eipController, planEip, planEips, type EipTargets, type EipTransition, type EipView } from '../../src/controllers/eip.ts';
import { openStore } from '../../src/store/sql-store.ts';

function eip(id: string, status: string, over: Partial<EipData> = {}): EipView {
  return {
    id,
    status,
    data: {
      AllocationId: id, IpAddress: '203.0.113.9', InstanceId: '', InstanceType: '', InstanceRegionId: '', PrivateIpAddress: '', VpcId: '',
      Bandwidth: 5, InternetChargeType: 'PayByBandwidth', InstanceChargeType: 'PostPaid', ISP: 'BGP', Name: '', Description: '',
      BandwidthPackageId: '', BandwidthPackageBandwidth: '', PublicIpAddressPoolId: '', AllocationTime: '2026-01-01T00:00:00Z', Mode: 'NAT',
      AutoCreatedBy: '', Tags: [], ...over,
    },
  };
}

function group(id: string, status: string, over: Partial<ContainerGroupNetworkData> = {}): [string, { status: string; data: ContainerGroupNetworkData }] {
  return [id, { status, data: { ContainerGroupId: id, ContainerGroupName: id, VpcId: 'vpc-1', VSwitchId: 'vsw-1', SecurityGroupIds: [], IntranetIp: '10.0.0.5', InternetIp: '', EipAllocationId: '', ...over } }];
}

function targets(groups: ReturnType<typeof group>[] = [], nats: string[] = []): EipTargets {
  return { groups: new Map(groups), natGateways: new Set(nats) };
}

const toEci = { InstanceId: 'eci-1', InstanceType: 'EciInstance', PrivateIpAddress: '10.0.0.5', VpcId: 'vpc-1' } as const;
const toNat = { InstanceId: 'ngw-1', InstanceType: 'Nat', VpcId: 'vpc-1' } as const;
const claimed = { EipAllocationId: 'eip-a' };
const shown = { EipAllocationId: 'eip-a', InternetIp: '203.0.113.9' };

describe('planEip', () => {
  const cases: [string, EipView, EipTargets, EipTransition | undefined][] = [
    ['Available, not auto-created: converged', eip('eip-a', 'Available'), targets(), undefined],
    ['Available, auto-created, group still there: kept', eip('eip-a', 'Available', { AutoCreatedBy: 'eci-1' }), targets([group('eci-1', 'Running')]), undefined],
    ['Available, auto-created, group gone: released', eip('eip-a', 'Available', { AutoCreatedBy: 'eci-1' }), targets(), { type: 'release', eipId: 'eip-a' }],
    ['Available, auto-created, group gone, in a bandwidth package: kept', eip('eip-a', 'Available', { AutoCreatedBy: 'eci-1', BandwidthPackageId: 'cbwp-1' }), targets(), undefined],
    ['Releasing: released', eip('eip-a', 'Releasing'), targets(), { type: 'release', eipId: 'eip-a' }],

    ['Associating+Nat, NAT exists: InUse', eip('eip-a', 'Associating', toNat), targets([], ['ngw-1']), { type: 'bind', eipId: 'eip-a' }],
    ['Associating+Nat, NAT gone: back to Available', eip('eip-a', 'Associating', toNat), targets(), { type: 'unbind', eipId: 'eip-a' }],
    ['InUse+Nat, NAT exists: converged', eip('eip-a', 'InUse', toNat), targets([], ['ngw-1']), undefined],
    ['InUse+Nat, NAT gone: back to Available', eip('eip-a', 'InUse', toNat), targets(), { type: 'unbind', eipId: 'eip-a' }],
    ['Unassociating+Nat: Available', eip('eip-a', 'Unassociating', toNat), targets([], ['ngw-1']), { type: 'unbind', eipId: 'eip-a' }],

    ['Associating+ECI, group Scheduling: stays Associating', eip('eip-a', 'Associating', toEci), targets([group('eci-1', 'Scheduling', claimed)]), undefined],
    ['Associating+ECI, group Pending: InUse', eip('eip-a', 'Associating', toEci), targets([group('eci-1', 'Pending', claimed)]), { type: 'bind', eipId: 'eip-a', groupId: 'eci-1' }],
    ['Associating+ECI, group Running: InUse', eip('eip-a', 'Associating', toEci), targets([group('eci-1', 'Running', claimed)]), { type: 'bind', eipId: 'eip-a', groupId: 'eci-1' }],
    ['Associating+ECI, group Failed: waits for the group to go', eip('eip-a', 'Associating', toEci), targets([group('eci-1', 'Failed', claimed)]), undefined],
    ['Associating+ECI, group claims another EIP: left alone', eip('eip-a', 'Associating', toEci), targets([group('eci-1', 'Running', { EipAllocationId: 'eip-b' })]), undefined],
    ['InUse+ECI, group shows it: converged', eip('eip-a', 'InUse', toEci), targets([group('eci-1', 'Running', shown)]), undefined],
    ['InUse+ECI, group lost its InternetIp: repaired', eip('eip-a', 'InUse', toEci), targets([group('eci-1', 'Running', claimed)]), { type: 'markGroup', eipId: 'eip-a', groupId: 'eci-1' }],
    ['Unassociating+ECI, group there: Available, group cleared', eip('eip-a', 'Unassociating', toEci), targets([group('eci-1', 'Running', shown)]), { type: 'unbind', eipId: 'eip-a', groupId: 'eci-1' }],

    ['InUse+ECI, group gone: back to Available', eip('eip-a', 'InUse', toEci), targets(), { type: 'unbind', eipId: 'eip-a' }],
    ['Associating+ECI, group gone: back to Available', eip('eip-a', 'Associating', toEci), targets(), { type: 'unbind', eipId: 'eip-a' }],
    ['Unassociating+ECI, group gone: back to Available', eip('eip-a', 'Unassociating', toEci), targets(), { type: 'unbind', eipId: 'eip-a' }],
    ['InUse+ECI, auto-created by the gone group: released', eip('eip-a', 'InUse', { ...toEci, AutoCreatedBy: 'eci-1' }), targets(), { type: 'release', eipId: 'eip-a' }],
    ['Associating+ECI, auto-created by the gone group: released', eip('eip-a', 'Associating', { ...toEci, AutoCreatedBy: 'eci-1' }), targets(), { type: 'release', eipId: 'eip-a' }],
    ['InUse+ECI, auto-created by the gone group, in a package: only detached', eip('eip-a', 'InUse', { ...toEci, AutoCreatedBy: 'eci-1', BandwidthPackageId: 'cbwp-1' }), targets(), { type: 'unbind', eipId: 'eip-a' }],
    ['InUse+ECI, auto-created by another group, bound group gone: back to Available', eip('eip-a', 'InUse', { ...toEci, AutoCreatedBy: 'eci-2' }), targets([group('eci-2', 'Running')]), { type: 'unbind', eipId: 'eip-a' }],
    ['InUse+Nat, auto-created by a gone group: stays bound to the NAT', eip('eip-a', 'InUse', { ...toNat, AutoCreatedBy: 'eci-9' }), targets([], ['ngw-1']), undefined],

    ['Associating to an unknown type: back to Available', eip('eip-a', 'Associating', { InstanceId: 'i-1', InstanceType: 'EcsInstance' }), targets(), { type: 'unbind', eipId: 'eip-a' }],
  ];
  for (const [name, e, t, want] of cases) {
    it(name, () => assert.deepEqual(planEip(e, t), want));
  }
});

describe('planEips', () => {
  it('plans only the EIPs that need a change, in order', () => {
    const eips = [
      eip('eip-a', 'Available'),
      eip('eip-b', 'Associating', toNat),
      eip('eip-c', 'InUse', toNat),
      eip('eip-d', 'Unassociating', { ...toEci, InstanceId: 'eci-2' }),
      eip('eip-e', 'Associating', toEci),
    ];
    const plan = planEips(eips, targets([group('eci-1', 'Scheduling', { EipAllocationId: 'eip-e' }), group('eci-2', 'Running', { EipAllocationId: 'eip-d' })], ['ngw-1']));
    assert.deepEqual(plan, [
      { type: 'bind', eipId: 'eip-b' },
      { type: 'unbind', eipId: 'eip-d', groupId: 'eci-2' },
    ]);
  });

  it('is converged on its own output (a second pass over the applied state plans nothing)', () => {
    const after = [eip('eip-b', 'InUse', toNat), eip('eip-d', 'Available')];
    assert.deepEqual(planEips(after, targets([], ['ngw-1'])), []);
  });
});

describe('eipController against a store', () => {
  // A real SQLite store; rows are inserted directly because they are the controller's input.
  const setup = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eip-ctl-'));
    const store = await openStore(join(dir, 's.db'));
    const insertEip = async (id: string, status: string, over: Partial<EipData>, ip: number) => {
      await store.allocateIp(PUBLIC_IP_SCOPE, [{ first: ip, last: ip }], id);
      const data = { ...eip(id, status, over).data, IpAddress: formatIp(ip) };
      await store.insert({ kind: KIND.eip, id, account: 'acct', region: 'cn-hangzhou', name: '', status, parent: '', createdAt: '2026-01-01T00:00:00Z', data });
    };
    const insertGroup = async (id: string, status: string, over: Partial<ContainerGroupNetworkData> = {}) => {
      await store.insert({ kind: KIND.containerGroup, id, account: 'acct', region: 'cn-hangzhou', name: id, status, parent: '', createdAt: '2026-01-01T00:00:00Z', data: group(id, status, over)[1].data });
    };
    const controller = eipController({ store, config: DEFAULT_CONFIG });
    return {
      store, insertEip, insertGroup, controller,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
  const ip = (n: number) => ((203 << 24) >>> 0) + (113 << 8) + n;

  it('binds, marks the group, unbinds and releases in one pass each', async () => {
    const s = await setup();
    try {
      await s.insertGroup('eci-run', 'Running', { EipAllocationId: 'eip-a' });
      await s.insertGroup('eci-sched', 'Scheduling', { EipAllocationId: 'eip-b' });
      await s.insertGroup('eci-un', 'Running', { EipAllocationId: 'eip-c', InternetIp: formatIp(ip(12)) });
      await s.insertEip('eip-a', 'Associating', { ...toEci, InstanceId: 'eci-run' }, ip(10));
      await s.insertEip('eip-b', 'Associating', { ...toEci, InstanceId: 'eci-sched' }, ip(11));
      await s.insertEip('eip-c', 'Unassociating', { ...toEci, InstanceId: 'eci-un' }, ip(12));
      await s.insertEip('eip-d', 'InUse', { ...toEci, InstanceId: 'eci-gone', AutoCreatedBy: 'eci-gone' }, ip(13));
      await s.insertEip('eip-e', 'InUse', { ...toEci, InstanceId: 'eci-gone2' }, ip(14));
      await s.controller.reconcile(new Date());

      const get = (id: string) => s.store.get<EipData>(KIND.eip, id);
      const groupOf = (id: string) => s.store.get<ContainerGroupNetworkData>(KIND.containerGroup, id);
      assert.equal((await get('eip-a'))!.status, 'InUse');
      assert.deepEqual(pick((await groupOf('eci-run'))!.data), { EipAllocationId: 'eip-a', InternetIp: formatIp(ip(10)) });
      assert.equal((await get('eip-b'))!.status, 'Associating', 'a Scheduling group keeps its EIP Associating');
      assert.deepEqual(pick((await groupOf('eci-sched'))!.data), { EipAllocationId: 'eip-b', InternetIp: '' });
      const c = (await get('eip-c'))!;
      assert.equal(c.status, 'Available');
      assert.deepEqual([c.data.InstanceId, c.data.InstanceType, c.data.PrivateIpAddress, c.data.VpcId], ['', '', '', '']);
      assert.deepEqual(pick((await groupOf('eci-un'))!.data), { EipAllocationId: '', InternetIp: '' });
      assert.equal(await get('eip-d'), undefined, 'an auto-created EIP goes with its group');
      assert.equal(await s.store.ipOwner(PUBLIC_IP_SCOPE, ip(13)), undefined, 'and its address is free again');
      const e = (await get('eip-e'))!;
      assert.equal(e.status, 'Available');
      assert.equal(await s.store.ipOwner(PUBLIC_IP_SCOPE, ip(14)), 'eip-e', 'a returned EIP keeps its address');

      // Converged: another pass changes nothing.
      const before = await s.store.list({ kind: KIND.eip });
      await s.controller.reconcile(new Date(Date.now() + 10_000));
      assert.deepEqual((await s.store.list({ kind: KIND.eip })).map((r) => [r.id, r.version]), before.map((r) => [r.id, r.version]));
    } finally {
      await s.close();
    }
  });

  it('skips a planned change that the store no longer calls for', async () => {
    const s = await setup();
    try {
      await s.insertGroup('eci-1', 'Running', { EipAllocationId: 'eip-a' });
      await s.insertEip('eip-a', 'Associating', toEci, ip(20));
      const planned = planEip((await s.store.get<EipData>(KIND.eip, 'eip-a'))!, targets([group('eci-1', 'Running', claimed)]));
      assert.deepEqual(planned, { type: 'bind', eipId: 'eip-a', groupId: 'eci-1' });
      // Meanwhile an API call unbinds it.
      const row = (await s.store.get<EipData>(KIND.eip, 'eip-a'))!;
      row.status = 'Unassociating';
      await s.store.update(row);
      assert.equal(await applyEipTransition(s.store, planned!, 'acct'), false);
      assert.equal((await s.store.get<EipData>(KIND.eip, 'eip-a'))!.status, 'Unassociating');
    } finally {
      await s.close();
    }
  });
});

function pick(d: ContainerGroupNetworkData) {
  return { EipAllocationId: d.EipAllocationId, InternetIp: d.InternetIp };
}
