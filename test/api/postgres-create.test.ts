// CreateContainerGroup on PostgreSQL with two `eci server` processes on one database. A create naming
// its vSwitch and security group shares its account's lock with the other such creates (they run side
// by side), so what the lock used to guarantee is held by the store itself: the quota (a capped
// insert), the addresses (IPAM) and the ClientToken (its reservation). These races prove it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseCidr, parseIp, vSwitchUsableRange } from '../../src/core/cidr.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { $Ecs, $Eci, EciClient, EcsClient, $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const QUOTA = 12;

describe('concurrent CreateContainerGroup of one account on PostgreSQL, through two servers', () => {
  let pg: TestPostgres;
  let a: TestServer;
  let b: TestServer;
  let eciA: EciClient;
  let eciB: EciClient;
  let vSwitchId: string;
  let securityGroupId: string;
  const cidr = '10.0.1.0/24';
  before(async () => {
    pg = await startPostgres();
    const url = pg.createDatabase('creates');
    const config = { quotas: { containerGroups: QUOTA } };
    [a, b] = await Promise.all([startServer({ storeUrl: url, config }), startServer({ storeUrl: url, config })]);
    const key = a.key('alice');
    eciA = new EciClient(a.sdkConfig(key));
    eciB = new EciClient(b.sdkConfig(key));
    const vpc = new VpcClient(a.sdkConfig(key));
    const vpcId = (await vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16' }))).body!.vpcId!;
    vSwitchId = (await vpc.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId: 'cn-hangzhou-h', cidrBlock: cidr }))).body!.vSwitchId!;
    securityGroupId = (await new EcsClient(a.sdkConfig(key)).createSecurityGroup(new $Ecs.CreateSecurityGroupRequest({ regionId: REGION, vpcId }))).body!.securityGroupId!;
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    pg?.stop();
  });

  const request = (name: string, more: Partial<$Eci.CreateContainerGroupRequest> = {}) =>
    new $Eci.CreateContainerGroupRequest({
      regionId: REGION,
      vSwitchId,
      securityGroupId,
      containerGroupName: name,
      container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image: 'busybox:1.36', cpu: 0.25, memory: 0.5 })],
      ...more,
    });

  async function groups(): Promise<{ id: string; ip: string; name: string }[]> {
    const out: { id: string; ip: string; name: string }[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await eciA.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, limit: 20, nextToken, withEvent: false }));
      for (const g of r.body!.containerGroups ?? []) out.push({ id: g.containerGroupId!, ip: g.intranetIp!, name: g.containerGroupName! });
      nextToken = r.body!.nextToken;
      if (!nextToken) break;
    }
    return out;
  }

  it('answers one ClientToken sent 10 times at once with one group', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? eciB : eciA).createContainerGroup(request('same-token', { clientToken: 'token-1' }))),
    );
    const ids = new Set(results.map((r) => r.body!.containerGroupId));
    assert.equal(ids.size, 1, 'every retry answered with the first group');
    const all = await groups();
    assert.deepEqual(all.map((g) => g.name), ['same-token']);
    assert.equal(all[0].id, [...ids][0]);
    // The same token with other parameters is refused, not run.
    const other = await rejection(() => eciB.createContainerGroup(request('other-name', { clientToken: 'token-1' })));
    assert.equal(other.code, 'IdempotentParameterMismatch');
    // DryRun on the same path writes nothing.
    const dry = await rejection(() => eciA.createContainerGroup(request('dry', { dryRun: true })));
    assert.equal(dry.code, 'DryRunOperation');
    assert.equal((await groups()).length, 1);
  });

  it(`never passes the quota (${QUOTA}) and never hands an address out twice, 40 creates at once`, async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? eciB : eciA).createContainerGroup(request(`burst-${i}`))),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(results.length - refused.length, QUOTA - 1, 'the group of the first test counts too');
    for (const r of refused) {
      const e = (r as PromiseRejectedResult).reason as { code?: string; statusCode?: number };
      assert.equal(e.code, 'QuotaExceeded.ContainerGroup');
      assert.equal(e.statusCode, 400);
    }
    const all = await groups();
    assert.equal(all.length, QUOTA);
    const ips = all.map((g) => parseIp(g.ip)!);
    assert.equal(new Set(ips).size, QUOTA, 'no private address handed out twice');
    // A refused create gave its address back: the groups hold the lowest usable addresses.
    const usable = vSwitchUsableRange(parseCidr(cidr)!);
    assert.deepEqual(ips.sort((x, y) => x - y), Array.from({ length: QUOTA }, (_, i) => usable.first + i));
    const full = await rejection(() => eciB.createContainerGroup(request('one-more')));
    assert.equal(full.code, 'QuotaExceeded.ContainerGroup');
  });
});
