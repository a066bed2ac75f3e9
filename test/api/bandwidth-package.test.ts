// Common bandwidth package actions through the official VPC SDK (V3 by default, V1 with
// signatureAlgorithm v2) against `eci server`, with EIPs added to and removed from packages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

type Package = $Vpc.DescribeCommonBandwidthPackagesResponseBodyCommonBandwidthPackagesCommonBandwidthPackage;
type Eip = $Vpc.DescribeEipAddressesResponseBodyEipAddressesEipAddress;

describe('common bandwidth packages', () => {
  let server: TestServer;
  let alice: VpcClient;
  let aliceV1: VpcClient;
  let bob: VpcClient;
  const createPackage = async (client: VpcClient, fields: Record<string, unknown> = {}) =>
    (await client.createCommonBandwidthPackage(new $Vpc.CreateCommonBandwidthPackageRequest({ regionId: REGION, ...fields }))).body!;
  const describePackages = async (client: VpcClient, fields: Record<string, unknown> = {}) =>
    (await client.describeCommonBandwidthPackages(new $Vpc.DescribeCommonBandwidthPackagesRequest({ regionId: REGION, ...fields }))).body!;
  const onePackage = async (client: VpcClient, bandwidthPackageId: string): Promise<Package | undefined> =>
    (await describePackages(client, { bandwidthPackageId })).commonBandwidthPackages!.commonBandwidthPackage![0];
  const addIp = (client: VpcClient, bandwidthPackageId: string, ipInstanceId: string, ipType = 'EIP') =>
    client.addCommonBandwidthPackageIp(new $Vpc.AddCommonBandwidthPackageIpRequest({ regionId: REGION, bandwidthPackageId, ipInstanceId, ipType }));
  const removeIp = (client: VpcClient, bandwidthPackageId: string, ipInstanceId: string) =>
    client.removeCommonBandwidthPackageIp(new $Vpc.RemoveCommonBandwidthPackageIpRequest({ regionId: REGION, bandwidthPackageId, ipInstanceId }));
  const modifySpec = (client: VpcClient, bandwidthPackageId: string, bandwidth: string) =>
    client.modifyCommonBandwidthPackageSpec(new $Vpc.ModifyCommonBandwidthPackageSpecRequest({ regionId: REGION, bandwidthPackageId, bandwidth }));
  const deletePackage = (client: VpcClient, bandwidthPackageId: string, force?: string) =>
    client.deleteCommonBandwidthPackage(new $Vpc.DeleteCommonBandwidthPackageRequest({ regionId: REGION, bandwidthPackageId, force }));
  const allocate = async (client: VpcClient, fields: Record<string, unknown> = {}) =>
    (await client.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, ...fields }))).body!;
  const eip = async (client: VpcClient, allocationId: string): Promise<Eip> =>
    (await client.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId }))).body!.eipAddresses!.eipAddress![0];
  const release = (client: VpcClient, allocationId: string) => client.releaseEipAddress(new $Vpc.ReleaseEipAddressRequest({ regionId: REGION, allocationId }));

  before(async () => {
    server = await startServer({ config: { quotas: { bandwidthPackages: 3 } } });
    const key = server.key('alice');
    alice = new VpcClient(server.sdkConfig(key));
    aliceV1 = new VpcClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' }));
    bob = new VpcClient(server.sdkConfig(server.key('bob')));
  });
  after(() => server.close());

  it('creates a package (V1), adds EIPs, changes its bandwidth, removes them and deletes it', async () => {
    const created = await createPackage(aliceV1, {
      bandwidth: 50,
      name: 'shared',
      description: 'web egress',
      zone: 'cn-hangzhou-h',
      tag: [new $Vpc.CreateCommonBandwidthPackageRequestTag({ key: 'env', value: 'prod' })],
    });
    const id = created.bandwidthPackageId!;
    assert.match(id, /^cbwp-[a-z2-7]{20}$/);
    assert.equal(created.resourceGroupId, '');
    let pkg = (await onePackage(alice, id))!;
    assert.equal(pkg.bandwidth, '50');
    assert.equal(pkg.name, 'shared');
    assert.equal(pkg.description, 'web egress');
    assert.equal(pkg.ISP, 'BGP');
    assert.equal(pkg.internetChargeType, 'PayByBandwidth');
    assert.equal(pkg.instanceChargeType, 'PostPaid');
    assert.equal(pkg.ratio, 20);
    assert.equal(pkg.status, 'Available');
    assert.equal(pkg.regionId, REGION);
    assert.equal(pkg.zone, 'cn-hangzhou-h');
    assert.match(pkg.creationTime!, RFC3339);
    assert.deepEqual(pkg.tags!.tag!.map((t) => [t.key, t.value]), [['env', 'prod']]);
    assert.equal(pkg.publicIpAddresses!.publicIpAddresse!.length, 0);

    const a = await allocate(alice, { bandwidth: '5' });
    const b = await allocate(alice, { bandwidth: '7' });
    await addIp(alice, id, a.allocationId!);
    await addIp(aliceV1, id, b.allocationId!);
    pkg = (await onePackage(aliceV1, id))!;
    assert.deepEqual(
      pkg.publicIpAddresses!.publicIpAddresse!.map((x) => [x.allocationId, x.ipAddress, x.bandwidthPackageIpRelationStatus]).sort(),
      [
        [a.allocationId, a.eipAddress, 'BINDED'],
        [b.allocationId, b.eipAddress, 'BINDED'],
      ].sort(),
    );
    let seen = await eip(alice, a.allocationId!);
    assert.equal(seen.bandwidthPackageId, id);
    assert.equal(seen.bandwidthPackageBandwidth, '50');
    assert.equal(seen.bandwidth, '5');

    await modifySpec(alice, id, '100');
    assert.equal((await onePackage(alice, id))!.bandwidth, '100');
    for (const x of [a, b]) assert.equal((await eip(alice, x.allocationId!)).bandwidthPackageBandwidth, '100');

    // An EIP in a package is not released until it leaves the package.
    const inPackage = await rejection(() => release(alice, a.allocationId!));
    assert.equal(inPackage.code, 'OperationFailed.EipInCbwp');

    await removeIp(alice, id, a.allocationId!);
    seen = await eip(alice, a.allocationId!);
    assert.equal(seen.bandwidthPackageId, '');
    assert.equal(seen.bandwidthPackageBandwidth, '');
    assert.equal(seen.bandwidth, '5');
    assert.deepEqual((await onePackage(alice, id))!.publicIpAddresses!.publicIpAddresse!.map((x) => x.allocationId), [b.allocationId]);
    const notIn = await rejection(() => removeIp(alice, id, a.allocationId!));
    assert.equal(notIn.code, 'OperationUnsupported.IpNotInCbwp');
    assert.equal(notIn.statusCode, 400);

    // A package with EIPs is deleted only with Force, which takes them out first.
    const busy = await rejection(() => deletePackage(alice, id));
    assert.equal(busy.code, 'DependencyViolation.EIPS');
    assert.equal(busy.statusCode, 400);
    const busyToo = await rejection(() => deletePackage(alice, id, 'false'));
    assert.equal(busyToo.code, 'DependencyViolation.EIPS');
    await deletePackage(alice, id, 'true');
    assert.equal(await onePackage(alice, id), undefined);
    assert.equal((await eip(alice, b.allocationId!)).bandwidthPackageId, '');
    const gone = await rejection(() => deletePackage(alice, id));
    assert.equal(gone.code, 'InvalidBandwidthPackageId.NotFound');
    assert.equal(gone.statusCode, 404);
    for (const x of [a, b]) await release(alice, x.allocationId!);
  });

  it('refuses an EIP already in a package, of another ISP, an unknown EIP or IP type, and bad bandwidths', async () => {
    const one = (await createPackage(alice, { bandwidth: 10 })).bandwidthPackageId!;
    const two = (await createPackage(alice, { bandwidth: 10 })).bandwidthPackageId!;
    const pro = (await createPackage(alice, { bandwidth: 10, ISP: 'BGP_PRO' })).bandwidthPackageId!;
    const a = await allocate(alice);
    await addIp(alice, one, a.allocationId!);
    const cases: [() => Promise<unknown>, string, number][] = [
      [() => addIp(alice, one, a.allocationId!), 'IpInstanceId.AlreadyInBandwidthPackage', 400],
      [() => addIp(alice, two, a.allocationId!), 'IpInstanceId.AlreadyInBandwidthPackage', 400],
      [() => addIp(alice, two, 'eip-doesnotexist000000000'), 'InvalidIpInstanceId.NotFound', 404],
      [() => addIp(alice, 'cbwp-doesnotexist00000000', a.allocationId!), 'InvalidBandwidthPackageId.NotFound', 404],
      [() => addIp(alice, two, a.allocationId!, 'SLB'), 'OperationUnsupported.IpType', 400],
      [() => modifySpec(alice, one, '0'), 'InvalidParameter', 400],
      [() => modifySpec(alice, one, '1001'), 'InvalidParameter', 400],
      [() => modifySpec(alice, one, '5.5'), 'InvalidParameter', 400],
      [() => modifySpec(alice, 'cbwp-doesnotexist00000000', '5'), 'InvalidBandwidthPackageId.NotFound', 404],
      [() => createPackage(alice, { bandwidth: 0 }), 'InvalidParameter', 400],
      [() => createPackage(alice, { bandwidth: 1001 }), 'InvalidParameter', 400],
      [() => createPackage(alice, { ISP: 'ChinaNowhere' }), 'InvalidParameter', 400],
    ];
    for (const [call, code, status] of cases) {
      const e = await rejection(call);
      assert.equal(e.code, code);
      assert.equal(e.statusCode, status, code);
    }
    const b = await allocate(alice);
    const isp = await rejection(() => addIp(alice, pro, b.allocationId!));
    assert.equal(isp.code, 'Mismatch.EipIspAndBandwidthPackageIsp');
    assert.equal(isp.statusCode, 400);
    assert.equal((await eip(alice, b.allocationId!)).bandwidthPackageId, '');
    // A BGP_PRO EIP joins the BGP_PRO package.
    const c = await allocate(alice, { ISP: 'BGP_PRO' });
    await addIp(alice, pro, c.allocationId!);
    assert.equal((await eip(alice, c.allocationId!)).bandwidthPackageBandwidth, '10');

    for (const id of [one, two, pro]) await deletePackage(alice, id, 'true');
    for (const x of [a, b, c]) await release(alice, x.allocationId!);
  });

  it("hides another account's packages and EIPs", async () => {
    const id = (await createPackage(alice, { bandwidth: 20 })).bandwidthPackageId!;
    const mine = await allocate(alice);
    const bobs = await allocate(bob);
    assert.equal(await onePackage(bob, id), undefined);
    assert.equal((await describePackages(bob)).totalCount, 0);
    for (const call of [() => addIp(bob, id, bobs.allocationId!), () => modifySpec(bob, id, '30'), () => deletePackage(bob, id, 'true'), () => removeIp(bob, id, bobs.allocationId!)]) {
      const e = await rejection(call);
      assert.equal(e.code, 'InvalidBandwidthPackageId.NotFound');
      assert.equal(e.statusCode, 404);
    }
    const foreignEip = await rejection(() => addIp(alice, id, bobs.allocationId!));
    assert.equal(foreignEip.code, 'InvalidIpInstanceId.NotFound');
    assert.equal(foreignEip.statusCode, 404);
    assert.equal((await eip(bob, bobs.allocationId!)).bandwidthPackageId, '');
    await addIp(alice, id, mine.allocationId!);
    assert.equal((await onePackage(alice, id))!.bandwidth, '20');
    await deletePackage(alice, id, 'true');
    await release(alice, mine.allocationId!);
    await release(bob, bobs.allocationId!);
  });

  it('enforces the quota, pages and filters', async () => {
    const carol = new VpcClient(server.sdkConfig(server.key('carol')));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const tag = [new $Vpc.CreateCommonBandwidthPackageRequestTag({ key: 'tier', value: i === 1 ? 'gold' : 'bronze' })];
      ids.push((await createPackage(carol, { bandwidth: 10 + i, name: `p${i}`, tag })).bandwidthPackageId!);
    }
    const over = await rejection(() => createPackage(carol));
    assert.equal(over.code, 'QuotaExceeded.BandwidthPackage');
    assert.equal(over.statusCode, 400);

    const page1 = await describePackages(carol, { pageSize: 2, pageNumber: 1 });
    const page2 = await describePackages(carol, { pageSize: 2, pageNumber: 2 });
    assert.equal(page1.totalCount, 3);
    assert.equal(page1.pageSize, 2);
    assert.equal(page2.pageNumber, 2);
    assert.deepEqual(
      [...page1.commonBandwidthPackages!.commonBandwidthPackage!, ...page2.commonBandwidthPackages!.commonBandwidthPackage!].map((p) => p.bandwidthPackageId),
      ids,
    );
    const tooBig = await rejection(() => describePackages(carol, { pageSize: 51 }));
    assert.equal(tooBig.code, 'InvalidParameter');
    const byName = await describePackages(carol, { name: 'p2' });
    assert.deepEqual(byName.commonBandwidthPackages!.commonBandwidthPackage!.map((p) => [p.bandwidthPackageId, p.bandwidth]), [[ids[2], '12']]);
    const byTag = await describePackages(carol, { tag: [new $Vpc.DescribeCommonBandwidthPackagesRequestTag({ key: 'tier', value: 'gold' })] });
    assert.deepEqual(byTag.commonBandwidthPackages!.commonBandwidthPackage!.map((p) => p.bandwidthPackageId), [ids[1]]);
    for (const id of ids) await deletePackage(carol, id);
    assert.equal((await describePackages(carol)).totalCount, 0);
    // Freed quota can be used again.
    await deletePackage(carol, (await createPackage(carol)).bandwidthPackageId!);
  });
});
