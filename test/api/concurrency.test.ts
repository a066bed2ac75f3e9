// Many simultaneous requests through the official SDKs against one `eci server`, served by one process
// and by two (--workers 2: two processes writing one SQLite file, or one PostgreSQL database): no
// address is handed out twice, nothing is lost, and exhaustion is a clean error.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatIp, parseCidr, parseIp, poolUsableRange, vSwitchUsableRange } from '../../src/core/cidr.ts';
import { $Ecs, $Eci, EciClient, EcsClient, $Vpc, VpcClient } from '../helpers/sdk.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';

async function allEips(vpc: VpcClient): Promise<{ id: string; ip: string }[]> {
  const out: { id: string; ip: string }[] = [];
  for (let page = 1; page <= 20; page++) {
    const r = await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, pageNumber: page, pageSize: 100 }));
    const items = r.body!.eipAddresses!.eipAddress ?? [];
    out.push(...items.map((e) => ({ id: e.allocationId!, ip: e.ipAddress! })));
    if (out.length >= r.body!.totalCount! || items.length === 0) break;
  }
  return out;
}

for (const [store, workers] of [['sqlite', 1], ['sqlite', 2], ['postgres', 2]] as const)
describe(`concurrent requests, ${store}, ${workers} server process${workers > 1 ? 'es' : ''}`, () => {
  let server: TestServer;
  let pg: TestPostgres | undefined;
  let vpc: VpcClient;
  let eci: EciClient;
  let ecs: EcsClient;
  before(async () => {
    if (store === 'postgres') pg = await startPostgres();
    server = await startServer({ config: { quotas: { eips: 1000, containerGroups: 1000 } }, workers, storeUrl: pg?.createDatabase('concurrency') });
    const key = server.key('alice');
    vpc = new VpcClient(server.sdkConfig(key));
    eci = new EciClient(server.sdkConfig(key));
    ecs = new EcsClient(server.sdkConfig(key));
  });
  after(async () => {
    await server.close();
    pg?.stop();
  });

  it('gives 200 parallel AllocateEipAddress calls 200 distinct addresses, then exhausts the pool cleanly', async () => {
    const usable = poolUsableRange(parseCidr('203.0.113.0/24')!);
    const allocate = () => vpc.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, bandwidth: '5' }));
    const results = await Promise.all(Array.from({ length: 200 }, allocate));
    const ips = results.map((r) => r.body!.eipAddress!);
    const ids = results.map((r) => r.body!.allocationId!);
    assert.equal(new Set(ids).size, 200);
    assert.equal(new Set(ips).size, 200, 'no address handed out twice');
    // Lowest-free allocation with nothing released fills the bottom of the pool, skipping nothing.
    const expected = Array.from({ length: 200 }, (_, i) => formatIp(usable.first + i));
    assert.deepEqual([...ips].sort(), [...expected].sort());
    const listed = await allEips(vpc);
    assert.deepEqual(new Map(listed.map((e) => [e.id, e.ip])), new Map(ids.map((id, i) => [id, ips[i]])));

    // 54 addresses remain; of 60 more parallel calls exactly 54 succeed and 6 get the pool's error.
    const more = await Promise.allSettled(Array.from({ length: 60 }, allocate));
    const ok = more.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof allocate>>>).value.body!.eipAddress!);
    const failed = more.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    assert.equal(ok.length, usable.last - usable.first + 1 - 200);
    assert.equal(new Set([...ips, ...ok]).size, 254);
    assert.equal(failed.length, 6);
    for (const e of failed) {
      assert.equal(e.code, 'QuotaExceeded.PublicIpAddressPool');
      assert.equal(e.statusCode, 400);
    }
    assert.equal((await allEips(vpc)).length, 254);
  });

  it('gives 200 parallel CreateContainerGroup calls into one vSwitch 200 distinct private IPs', async () => {
    const vpcId = (await vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16' }))).body!.vpcId!;
    const cidr = '10.0.1.0/24';
    const vSwitchId = (await vpc.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId: 'cn-hangzhou-h', cidrBlock: cidr }))).body!.vSwitchId!;
    const securityGroupId = (await ecs.createSecurityGroup(new $Ecs.CreateSecurityGroupRequest({ regionId: REGION, vpcId }))).body!.securityGroupId!;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        eci.createContainerGroup(
          new $Eci.CreateContainerGroupRequest({
            regionId: REGION,
            vSwitchId,
            securityGroupId,
            containerGroupName: `burst-${i}`,
            container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image: 'busybox:1.36', cpu: 0.25, memory: 0.5 })],
          }),
        ),
      ),
    );
    const ids = results.map((r) => r.body!.containerGroupId!);
    assert.equal(new Set(ids).size, 200);

    const groups: { id: string; ip: string; vSwitchId: string; status: string }[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, vSwitchId, limit: 20, nextToken, withEvent: false }));
      for (const g of r.body!.containerGroups ?? []) groups.push({ id: g.containerGroupId!, ip: g.intranetIp!, vSwitchId: g.vSwitchId!, status: g.status! });
      nextToken = r.body!.nextToken;
      if (!nextToken) break;
    }
    assert.deepEqual(groups.map((g) => g.id).sort(), [...ids].sort());
    const ips = groups.map((g) => g.ip);
    assert.equal(new Set(ips).size, 200, 'no private address handed out twice');
    const usable = vSwitchUsableRange(parseCidr(cidr)!);
    // Lowest-free allocation: the 200 lowest usable addresses of the vSwitch, gateway excluded.
    assert.deepEqual(ips.map((ip) => parseIp(ip)!).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => usable.first + i));
    for (const g of groups) {
      assert.equal(g.vSwitchId, vSwitchId);
      assert.equal(g.status, 'Scheduling', 'no host agent runs them');
    }
    const attrs = await vpc.describeVSwitchAttributes(new $Vpc.DescribeVSwitchAttributesRequest({ regionId: REGION, vSwitchId }));
    assert.equal(attrs.body!.availableIpAddressCount, usable.last - usable.first + 1 - 200);
  });
});
