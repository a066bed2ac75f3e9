// Two `eci server` processes on one PostgreSQL database behave as one service: what one writes the
// other reads, ClientTokens hold across them, and concurrent allocations never share an address.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseCidr, poolUsableRange, parseIp } from '../../src/core/cidr.ts';
import { PUBLIC_IP_SCOPE } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestKey, type TestServer } from '../helpers/server.ts';
import { closeConnections, send, signV3 } from '../helpers/sign.ts';

const REGION = 'cn-hangzhou';

async function allEips(vpc: VpcClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let page = 1; page <= 20; page++) {
    const r = await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, pageNumber: page, pageSize: 100 }));
    for (const e of r.body!.eipAddresses!.eipAddress ?? []) out.set(e.allocationId!, e.ipAddress!);
    if (out.size >= r.body!.totalCount!) break;
  }
  return out;
}

describe('two servers on one PostgreSQL database', () => {
  let pg: TestPostgres;
  let url: string;
  let a: TestServer;
  let b: TestServer;
  let alice: TestKey;
  let bob: TestKey;
  before(async () => {
    pg = await startPostgres();
    url = pg.createDatabase('servers');
    // Started together: both migrate and seed the same empty database at once.
    const config = { quotas: { eips: 1000 } };
    [a, b] = await Promise.all([startServer({ storeUrl: url, config }), startServer({ storeUrl: url, config })]);
    // Keys made with `eci keys create --store <url>` live in the database, so both servers know them.
    alice = a.key('alice');
    bob = b.key('bob');
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    pg?.stop();
  });

  it('serves a VPC created through one server from the other, and its deletion too', async () => {
    const viaA = new VpcClient(a.sdkConfig(alice));
    const viaB = new VpcClient(b.sdkConfig(alice, { signatureAlgorithm: 'v2' }));
    const created = await viaA.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '192.168.0.0/16', vpcName: 'shared', description: 'made on A' }));
    const id = created.body!.vpcId!;
    const seen = await viaB.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION, vpcId: id }));
    assert.equal(seen.body!.totalCount, 1);
    const v = seen.body!.vpcs!.vpc![0];
    assert.deepEqual([v.vpcId, v.vpcName, v.description, v.cidrBlock, v.status, v.VRouterId], [id, 'shared', 'made on A', '192.168.0.0/16', 'Available', created.body!.VRouterId]);
    // Another account does not see it through either server.
    const bobOnB = await new VpcClient(b.sdkConfig(bob)).describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION, vpcId: id }));
    assert.equal(bobOnB.body!.totalCount, 0);
    await viaB.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId: id }));
    const gone = await rejection(() => viaA.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId: id })));
    assert.equal(gone.code, 'InvalidVpcId.NotFound');
    assert.equal(gone.statusCode, 404);
  });

  it('refuses a write replayed to the other server; a read replayed to a server started after it', async () => {
    const signed = (server: TestServer, action: string, params: Record<string, string>, nonce: string) =>
      signV3(alice, { action, version: '2016-04-28', params: { RegionId: REGION, ...params }, host: server.endpoint, nonce });
    const code = async (server: TestServer, action: string, params: Record<string, string>, nonce: string) => {
      const r = await send(server.endpoint, signed(server, action, params, nonce));
      return [r.status, r.json.Code ?? 'ok'];
    };
    const write = `pg-w-${Math.random()}`;
    assert.deepEqual(await code(a, 'CreateVpc', { CidrBlock: '10.0.0.0/8', Description: write }, write), [200, 'ok']);
    assert.deepEqual(await code(b, 'CreateVpc', { CidrBlock: '10.0.0.0/8', Description: write }, write), [400, 'SignatureNonceUsed']);
    const failed = `pg-f-${Math.random()}`;
    assert.deepEqual(await code(a, 'DeleteVpc', { VpcId: 'vpc-nosuch' }, failed), [404, 'InvalidVpcId.NotFound']);
    assert.deepEqual(await code(b, 'DeleteVpc', { VpcId: 'vpc-nosuch' }, failed), [400, 'SignatureNonceUsed']);
    // A write answered from its ClientToken's record (its transaction rolled back) still used its nonce.
    const token = `pg-t-${Math.random()}`;
    const first = await send(a.endpoint, signed(a, 'CreateVpc', { CidrBlock: '10.0.0.0/8', ClientToken: token }, `${token}-1`));
    assert.equal(first.status, 200);
    const replay = await send(a.endpoint, signed(a, 'CreateVpc', { CidrBlock: '10.0.0.0/8', ClientToken: token }, `${token}-2`));
    assert.deepEqual([replay.status, replay.json.VpcId], [200, first.json.VpcId]);
    assert.deepEqual(await code(b, 'CreateVpc', { CidrBlock: '10.0.0.0/8', ClientToken: token }, `${token}-2`), [400, 'SignatureNonceUsed']);
    assert.deepEqual(await code(b, 'CreateVpc', { CidrBlock: '10.0.0.0/8', ClientToken: token }, `${token}-3`), [200, 'ok']);
    // A read's nonce reaches the database a few milliseconds after it is answered; a server that
    // starts later loads it.
    const read = `pg-r-${Math.random()}`;
    assert.deepEqual(await code(a, 'DescribeVpcs', {}, read), [200, 'ok']);
    await new Promise((r) => setTimeout(r, 200));
    closeConnections();
    await b.stop();
    await b.restart();
    assert.deepEqual(await code(b, 'DescribeVpcs', {}, read), [400, 'SignatureNonceUsed']);
    assert.deepEqual(await code(a, 'DescribeVpcs', {}, read), [400, 'SignatureNonceUsed']);
  });

  it('honours a ClientToken across servers', async () => {
    const request = () => new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/8', clientToken: 'one-vpc-please' });
    const first = await new VpcClient(a.sdkConfig(alice)).createVpc(request());
    const again = await new VpcClient(b.sdkConfig(alice)).createVpc(request());
    assert.equal(again.body!.vpcId, first.body!.vpcId);
    const mismatch = await rejection(() =>
      new VpcClient(b.sdkConfig(alice)).createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '172.16.0.0/12', clientToken: 'one-vpc-please' })),
    );
    assert.equal(mismatch.code, 'IdempotentParameterMismatch');
    const listed = await new VpcClient(a.sdkConfig(alice)).describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION, vpcId: first.body!.vpcId }));
    assert.equal(listed.body!.totalCount, 1);
  });

  it('allocates 200 EIPs concurrently through both servers with no address twice', async () => {
    // Two accounts on each server: the per-account lock and the per-pool IPAM lock both span servers.
    const clients = [a, b].flatMap((s) => [alice, bob].map((k) => new VpcClient(s.sdkConfig(k))));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        clients[i % 4].allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, bandwidth: '5' })),
      ),
    );
    const ips = results.map((r) => r.body!.eipAddress!);
    assert.equal(new Set(ips).size, 200, 'no address handed out twice');
    const usable = poolUsableRange(parseCidr('203.0.113.0/24')!);
    for (const ip of ips) assert.ok(parseIp(ip)! >= usable.first && parseIp(ip)! <= usable.last, ip);
    // Each account sees its 100 through the other server.
    const aliceOnB = await allEips(new VpcClient(b.sdkConfig(alice)));
    const bobOnA = await allEips(new VpcClient(a.sdkConfig(bob)));
    assert.equal(aliceOnB.size, 100);
    assert.equal(bobOnA.size, 100);
    assert.deepEqual(new Set([...aliceOnB.values(), ...bobOnA.values()]), new Set(ips));
    const store = await openStore(url);
    try {
      assert.equal(await store.countIps(PUBLIC_IP_SCOPE), 200);
      for (const [id, ip] of [...aliceOnB, ...bobOnA]) assert.equal(await store.ipOwner(PUBLIC_IP_SCOPE, parseIp(ip)!), id);
    } finally {
      await store.close();
    }
  });
});
