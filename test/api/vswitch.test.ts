// vSwitch and zone actions through the official VPC SDK (V3 by default, V1 with signatureAlgorithm v2)
// against `eci server`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseCidr, vSwitchUsableRange } from '../../src/core/cidr.ts';
import { KIND } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe('vSwitches and zones', () => {
  let server: TestServer;
  let vpc: VpcClient;
  let vpcV1: VpcClient;
  let bob: VpcClient;
  const createVpc = async (client: VpcClient, cidrBlock: string) =>
    (await client.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock }))).body!.vpcId!;
  const createVSwitch = async (client: VpcClient, fields: Record<string, unknown>) =>
    (await client.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, zoneId: 'cn-hangzhou-h', ...fields }))).body!.vSwitchId!;
  const attributes = async (client: VpcClient, vSwitchId: string) =>
    (await client.describeVSwitchAttributes(new $Vpc.DescribeVSwitchAttributesRequest({ regionId: REGION, vSwitchId }))).body!;
  const deleteVSwitch = (client: VpcClient, vSwitchId: string) => client.deleteVSwitch(new $Vpc.DeleteVSwitchRequest({ regionId: REGION, vSwitchId }));

  before(async () => {
    server = await startServer({ config: { quotas: { vSwitchesPerVpc: 3 } } });
    const key = server.key('alice');
    vpc = new VpcClient(server.sdkConfig(key));
    vpcV1 = new VpcClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' }));
    bob = new VpcClient(server.sdkConfig(server.key('bob')));
  });
  after(() => server.close());

  it('lists the configured zones with both signature versions', async () => {
    for (const client of [vpc, vpcV1]) {
      const r = await client.describeZones(new $Vpc.DescribeZonesRequest({ regionId: REGION }));
      assert.deepEqual(
        r.body!.zones!.zone!.map((z) => [z.zoneId, z.zoneType, z.localName]),
        [
          ['cn-hangzhou-h', 'AvailabilityZone', 'OpenECI (local) H'],
          ['cn-hangzhou-i', 'AvailabilityZone', 'OpenECI (local) I'],
        ],
      );
    }
    const other = await vpc.describeZones(new $Vpc.DescribeZonesRequest({ regionId: REGION, zoneType: 'EdgeZone' }));
    assert.deepEqual(other.body!.zones!.zone, []);
    const e = await rejection(() => vpc.describeZones(new $Vpc.DescribeZonesRequest({ regionId: 'xx-nowhere-1' })));
    assert.equal(e.code, 'InvalidRegionId.NotFound');
    assert.equal(e.statusCode, 404);
  });

  it('creates a vSwitch (V1), describes it with its free addresses, and deletes it', async () => {
    const vpcId = await createVpc(vpc, '192.168.0.0/16');
    const created = await vpcV1.createVSwitch(
      new $Vpc.CreateVSwitchRequest({
        regionId: REGION,
        vpcId,
        zoneId: 'cn-hangzhou-i',
        cidrBlock: '192.168.1.0/24',
        vSwitchName: 'web tier',
        description: 'héllo + wörld',
        tag: [new $Vpc.CreateVSwitchRequestTag({ key: 'env', value: 'prod' })],
      }),
    );
    const id = created.body!.vSwitchId!;
    assert.match(id, /^vsw-[a-z2-7]{20}$/);
    for (const client of [vpc, vpcV1]) {
      const listed = await client.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: id }));
      assert.equal(listed.body!.totalCount, 1);
      const v = listed.body!.vSwitches!.vSwitch![0];
      assert.equal(v.vSwitchId, id);
      assert.equal(v.vpcId, vpcId);
      assert.equal(v.zoneId, 'cn-hangzhou-i');
      assert.equal(v.cidrBlock, '192.168.1.0/24');
      assert.equal(v.status, 'Available');
      assert.equal(v.vSwitchName, 'web tier');
      assert.equal(v.description, 'héllo + wörld');
      assert.equal(v.isDefault, false);
      assert.match(v.creationTime!, RFC3339);
      // 256 addresses minus network, gateway and the last three the reference reserves.
      assert.equal(v.availableIpAddressCount, 251);
      assert.deepEqual(v.tags!.tag!.map((t) => [t.key, t.value]), [['env', 'prod']]);
      assert.match(v.routeTable!.routeTableId!, /^vtb-/);
    }
    const attrs = await attributes(vpcV1, id);
    assert.equal(attrs.vSwitchId, id);
    assert.equal(attrs.cidrBlock, '192.168.1.0/24');
    assert.equal(attrs.availableIpAddressCount, 251);
    const small = await createVSwitch(vpc, { vpcId, cidrBlock: '192.168.2.0/29' });
    assert.equal((await attributes(vpc, small)).availableIpAddressCount, 3);

    const busy = await rejection(() => vpc.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId })));
    assert.equal(busy.code, 'DependencyViolation.VSwitch');
    await deleteVSwitch(vpcV1, id);
    await deleteVSwitch(vpc, small);
    const gone = await rejection(() => attributes(vpc, id));
    assert.equal(gone.code, 'InvalidVSwitchId.NotFound');
    assert.equal(gone.statusCode, 404);
    const again = await rejection(() => deleteVSwitch(vpc, id));
    assert.equal(again.code, 'InvalidVSwitchId.NotFound');
    assert.equal(again.statusCode, 404);
    await vpc.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId }));
  });

  it('refuses an unknown VPC or zone and a CIDR outside the VPC, overlapping or malformed', async () => {
    const vpcId = await createVpc(vpc, '10.10.0.0/16');
    await createVSwitch(vpc, { vpcId, cidrBlock: '10.10.0.0/24' });
    const cases: [Record<string, unknown>, string, number][] = [
      [{ vpcId: 'vpc-doesnotexist0000000', cidrBlock: '10.10.1.0/24' }, 'InvalidVpcId.NotFound', 404],
      [{ vpcId, zoneId: 'cn-hangzhou-z', cidrBlock: '10.10.1.0/24' }, 'InvalidZoneId.NotFound', 404],
      [{ vpcId, cidrBlock: '10.11.0.0/24' }, 'InvalidCidrBlock.Mismatch', 400],
      [{ vpcId, cidrBlock: '10.10.0.128/25' }, 'InvalidCidrBlock.Overlapped', 400],
      [{ vpcId, cidrBlock: '10.10.0.0/16' }, 'InvalidCidrBlock.Overlapped', 400],
      [{ vpcId, cidrBlock: '10.10.1.1/24' }, 'InvalidCidrBlock.Malformed', 400],
      [{ vpcId, cidrBlock: '10.10.1.0/30' }, 'InvalidCidrBlock.Malformed', 400],
      [{ vpcId, cidrBlock: 'nonsense' }, 'InvalidCidrBlock.Malformed', 400],
      [{ vpcId, cidrBlock: '10.10.1.0/24', vSwitchName: 'http://x' }, 'InvalidVSwitchName.Malformed', 400],
      [{ vpcId }, 'MissingParameter', 400],
    ];
    for (const [fields, code, status] of cases) {
      const e = await rejection(() => createVSwitch(vpc, fields));
      assert.equal(e.code, code, JSON.stringify(fields));
      assert.equal(e.statusCode, status, JSON.stringify(fields));
    }
  });

  it('enforces the per-VPC quota, pages and filters', async () => {
    const vpcId = await createVpc(vpc, '172.20.0.0/16');
    const ids = [];
    for (const [i, zoneId] of ['cn-hangzhou-h', 'cn-hangzhou-i', 'cn-hangzhou-h'].entries())
      ids.push(await createVSwitch(vpc, { vpcId, zoneId, cidrBlock: `172.20.${i}.0/24`, vSwitchName: `sw${i}` }));
    const over = await rejection(() => createVSwitch(vpc, { vpcId, cidrBlock: '172.20.9.0/24' }));
    assert.equal(over.code, 'QuotaExceeded.VSwitch');
    assert.equal(over.statusCode, 400);

    const page1 = await vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vpcId, pageSize: 2, pageNumber: 1 }));
    const page2 = await vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vpcId, pageSize: 2, pageNumber: 2 }));
    assert.equal(page1.body!.totalCount, 3);
    assert.equal(page1.body!.pageSize, 2);
    assert.equal(page2.body!.pageNumber, 2);
    assert.deepEqual(
      [...page1.body!.vSwitches!.vSwitch!, ...page2.body!.vSwitches!.vSwitch!].map((v) => v.vSwitchId),
      ids,
    );
    const bigPage = await rejection(() => vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vpcId, pageSize: 51 })));
    assert.equal(bigPage.code, 'InvalidParameter');

    const byZone = await vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vpcId, zoneId: 'cn-hangzhou-i' }));
    assert.deepEqual(byZone.body!.vSwitches!.vSwitch!.map((v) => v.vSwitchId), [ids[1]]);
    const byIds = await vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: `${ids[0]},${ids[2]}` }));
    assert.deepEqual(byIds.body!.vSwitches!.vSwitch!.map((v) => v.vSwitchId), [ids[0], ids[2]]);
    const byName = await vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchName: 'sw2' }));
    assert.deepEqual(byName.body!.vSwitches!.vSwitch!.map((v) => v.vSwitchId), [ids[2]]);
    // A VPC alone scopes the listing; neither a region nor a VPC is an error.
    const byVpc = await vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ vpcId }));
    assert.equal(byVpc.body!.totalCount, 3);
  });

  it("hides another account's vSwitches", async () => {
    const vpcId = await createVpc(vpc, '10.20.0.0/16');
    const id = await createVSwitch(vpc, { vpcId, cidrBlock: '10.20.0.0/24' });
    const listed = await bob.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vSwitchId: id }));
    assert.equal(listed.body!.totalCount, 0);
    const byVpc = await bob.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vpcId }));
    assert.equal(byVpc.body!.totalCount, 0);
    for (const call of [() => attributes(bob, id), () => deleteVSwitch(bob, id)]) {
      const e = await rejection(call);
      assert.equal(e.code, 'InvalidVSwitchId.NotFound');
      assert.equal(e.statusCode, 404);
    }
    const e = await rejection(() => createVSwitch(bob, { vpcId, cidrBlock: '10.20.1.0/24' }));
    assert.equal(e.code, 'InvalidVpcId.NotFound');
    assert.equal(e.statusCode, 404);
    assert.equal((await attributes(vpc, id)).status, 'Available');
  });

  it('refuses to delete a vSwitch holding a NAT gateway, a SNAT source, a container group or addresses', async () => {
    const vpcId = await createVpc(vpc, '10.30.0.0/16');
    const natSwitch = await createVSwitch(vpc, { vpcId, cidrBlock: '10.30.0.0/24' });
    const appSwitch = await createVSwitch(vpc, { vpcId, cidrBlock: '10.30.1.0/24' });

    const nat = (await vpc.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId, vSwitchId: natSwitch, natType: 'Enhanced' }))).body!;
    const eip = (await vpc.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION }))).body!;
    await vpc.associateEipAddress(new $Vpc.AssociateEipAddressRequest({ regionId: REGION, allocationId: eip.allocationId, instanceId: nat.natGatewayId, instanceType: 'Nat' }));
    const snat = (
      await vpc.createSnatEntry(
        new $Vpc.CreateSnatEntryRequest({ regionId: REGION, snatTableId: nat.snatTableIds!.snatTableId![0], sourceVSwitchId: appSwitch, snatIp: eip.eipAddress }),
      )
    ).body!;

    const byNat = await rejection(() => deleteVSwitch(vpc, natSwitch));
    assert.equal(byNat.code, 'DependencyViolation.EnhancedNatgw');
    assert.equal(byNat.statusCode, 400);
    const bySnat = await rejection(() => deleteVSwitch(vpc, appSwitch));
    assert.equal(bySnat.code, 'DependencyViolation.SnatEntry');
    assert.equal(bySnat.statusCode, 400);
    await vpc.deleteSnatEntry(new $Vpc.DeleteSnatEntryRequest({ regionId: REGION, snatTableId: nat.snatTableIds!.snatTableId![0], snatEntryId: snat.snatEntryId }));

    // A container group in the vSwitch, with its private address, as CreateContainerGroup records it.
    const store = await openStore(server.storeUrl);
    const groupId = 'eci-vswitchtestgroup0001';
    const range = vSwitchUsableRange(parseCidr('10.30.1.0/24')!);
    try {
      await store.tx(async (tx) => {
        await tx.insert({
          kind: KIND.containerGroup, id: groupId, account: 'alice', region: REGION, name: 'g', status: 'Scheduling', parent: '',
          createdAt: '2024-01-01T00:00:00Z', data: { ContainerGroupId: groupId, VpcId: vpcId, VSwitchId: appSwitch },
        });
        assert.equal(await tx.allocateIp(appSwitch, [range], groupId), range.first);
      });
      assert.equal((await attributes(vpc, appSwitch)).availableIpAddressCount, 250);
      const byGroup = await rejection(() => deleteVSwitch(vpc, appSwitch));
      assert.equal(byGroup.code, 'DependencyViolation');
      assert.match(byGroup.data.Message, new RegExp(groupId));

      // The group gone but its address still held (an interface being torn down): still refused.
      await store.tx((tx) => tx.delete(KIND.containerGroup, groupId));
      const byIp = await rejection(() => deleteVSwitch(vpc, appSwitch));
      assert.equal(byIp.code, 'DependencyViolation');
      await store.tx((tx) => tx.releaseIp(appSwitch, range.first));
    } finally {
      await store.close();
    }
    assert.equal((await attributes(vpc, appSwitch)).availableIpAddressCount, 251);
    await deleteVSwitch(vpc, appSwitch);
  });
});
