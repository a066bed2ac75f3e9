// VPC actions through the official SDK (V3 by default, V1 with signatureAlgorithm v2) against `eci server`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

describe('VPC', () => {
  let server: TestServer;
  let vpc: VpcClient;
  let vpcV1: VpcClient;
  before(async () => {
    server = await startServer();
    const key = server.key('alice');
    vpc = new VpcClient(server.sdkConfig(key));
    vpcV1 = new VpcClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' }));
  });
  after(() => server.close());

  it('creates, describes and deletes a VPC with both signature versions', async () => {
    for (const client of [vpc, vpcV1]) {
      const created = await client.createVpc(new $Vpc.CreateVpcRequest({ regionId: 'cn-hangzhou', cidrBlock: '192.168.0.0/16', vpcName: 'a b!*()', description: 'héllo + wörld' }));
      assert.match(created.body!.vpcId!, /^vpc-[a-z2-7]{20}$/);
      const listed = await client.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: 'cn-hangzhou', vpcId: created.body!.vpcId }));
      assert.equal(listed.body!.totalCount, 1);
      const v = listed.body!.vpcs!.vpc![0];
      assert.equal(v.cidrBlock, '192.168.0.0/16');
      assert.equal(v.vpcName, 'a b!*()');
      assert.equal(v.description, 'héllo + wörld');
      assert.equal(v.status, 'Available');
      await client.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: 'cn-hangzhou', vpcId: created.body!.vpcId }));
      const gone = await rejection(() => client.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: 'cn-hangzhou', vpcId: created.body!.vpcId })));
      assert.equal(gone.code, 'InvalidVpcId.NotFound');
      assert.equal(gone.statusCode, 404);
    }
  });

  it('refuses a public or malformed CIDR with InvalidCidrBlock.Malformed', async () => {
    for (const cidr of ['8.8.8.0/24', '10.0.0.1/8', '10.0.0.0/33', 'nonsense', '192.168.0.0/30']) {
      const e = await rejection(() => vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: 'cn-hangzhou', cidrBlock: cidr })));
      assert.equal(e.code, 'InvalidCidrBlock.Malformed', cidr);
      assert.equal(e.statusCode, 400);
    }
  });

  it('hides another account\'s VPC', async () => {
    const created = await vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: 'cn-hangzhou', cidrBlock: '10.0.0.0/16' }));
    const bob = new VpcClient(server.sdkConfig(server.key('bob')));
    const listed = await bob.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: 'cn-hangzhou', vpcId: created.body!.vpcId }));
    assert.equal(listed.body!.totalCount, 0);
    const e = await rejection(() => bob.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: 'cn-hangzhou', vpcId: created.body!.vpcId })));
    assert.equal(e.code, 'InvalidVpcId.NotFound');
  });
});
