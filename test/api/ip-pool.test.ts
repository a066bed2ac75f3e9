// Public IP address pool actions through the official VPC SDK (V3 by default, V1 with signatureAlgorithm
// v2) against `eci server`, with EIPs allocated from the pools.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

type Pool = $Vpc.ListPublicIpAddressPoolsResponseBodyPublicIpAddressPoolList;

describe('public IP address pools', () => {
  let server: TestServer;
  let alice: VpcClient;
  let aliceV1: VpcClient;
  let bob: VpcClient;
  const createPool = async (client: VpcClient, fields: Record<string, unknown> = {}) =>
    (await client.createPublicIpAddressPool(new $Vpc.CreatePublicIpAddressPoolRequest({ regionId: REGION, ...fields }))).body!;
  const addBlock = async (client: VpcClient, publicIpAddressPoolId: string, fields: Record<string, unknown>) =>
    (await client.addPublicIpAddressPoolCidrBlock(new $Vpc.AddPublicIpAddressPoolCidrBlockRequest({ regionId: REGION, publicIpAddressPoolId, ...fields }))).body!;
  const listPools = async (client: VpcClient, fields: Record<string, unknown> = {}) =>
    (await client.listPublicIpAddressPools(new $Vpc.ListPublicIpAddressPoolsRequest({ regionId: REGION, ...fields }))).body!;
  const onePool = async (client: VpcClient, id: string): Promise<Pool | undefined> =>
    (await listPools(client, { publicIpAddressPoolIds: [id] })).publicIpAddressPoolList![0];
  const listBlocks = async (client: VpcClient, publicIpAddressPoolId: string, fields: Record<string, unknown> = {}) =>
    (await client.listPublicIpAddressPoolCidrBlocks(new $Vpc.ListPublicIpAddressPoolCidrBlocksRequest({ regionId: REGION, publicIpAddressPoolId, ...fields }))).body!;
  const deletePool = (client: VpcClient, publicIpAddressPoolId: string) =>
    client.deletePublicIpAddressPool(new $Vpc.DeletePublicIpAddressPoolRequest({ regionId: REGION, publicIpAddressPoolId }));
  const allocate = async (client: VpcClient, publicIpAddressPoolId: string) =>
    (await client.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, publicIpAddressPoolId }))).body!;
  const release = (client: VpcClient, allocationId: string) => client.releaseEipAddress(new $Vpc.ReleaseEipAddressRequest({ regionId: REGION, allocationId }));

  before(async () => {
    server = await startServer({ config: { quotas: { ipPools: 12 } } });
    const key = server.key('alice');
    alice = new VpcClient(server.sdkConfig(key));
    aliceV1 = new VpcClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' }));
    bob = new VpcClient(server.sdkConfig(server.key('bob')));
  });
  after(() => server.close());

  it('creates a pool, adds a block, allocates EIPs from it and reports the usage', async () => {
    const created = await createPool(aliceV1, {
      name: 'my pool',
      description: 'own addresses',
      isp: 'BGP_PRO',
      tag: [new $Vpc.CreatePublicIpAddressPoolRequestTag({ key: 'team', value: 'net' })],
    });
    const id = created.publicIpAddressPoolId!;
    assert.match(id, /^pippool-[a-z2-7]{20}$/);
    assert.equal(created.pulbicIpAddressPoolId, id);
    assert.equal(created.resourceGroupId, '');

    let pool = (await onePool(aliceV1, id))!;
    assert.equal(pool.name, 'my pool');
    assert.equal(pool.description, 'own addresses');
    assert.equal(pool.isp, 'BGP_PRO');
    assert.equal(pool.bizType, 'Default');
    assert.equal(pool.status, 'Created');
    assert.equal(pool.regionId, REGION);
    assert.match(pool.creationTime!, RFC3339);
    assert.deepEqual([pool.totalIpNum, pool.usedIpNum, pool.ipAddressRemaining], [0, 0, false]);
    assert.deepEqual(pool.tags!.map((t) => [t.key, t.value]), [['team', 'net']]);

    const added = await addBlock(alice, id, { cidrBlock: '198.51.100.0/28' });
    assert.equal(added.cidrBlock, '198.51.100.0/28');
    await addBlock(alice, id, { cidrBlock: '198.51.100.64/32' });
    const blocks = await listBlocks(alice, id);
    assert.equal(blocks.totalCount, 2);
    assert.deepEqual(
      blocks.publicIpPoolCidrBlockList!.map((b) => [b.publicIpAddressPoolId, b.cidrBlock, b.status, b.totalIpNum, b.usedIpNum]),
      [
        [id, '198.51.100.0/28', 'Created', 14, 0],
        [id, '198.51.100.64/32', 'Created', 1, 0],
      ],
    );
    assert.match(blocks.publicIpPoolCidrBlockList![0].creationTime!, RFC3339);

    const eip1 = await allocate(alice, id);
    const eip2 = await allocate(alice, id);
    assert.deepEqual([eip1.eipAddress, eip2.eipAddress], ['198.51.100.1', '198.51.100.2']);
    const eips = await alice.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId: eip1.allocationId }));
    assert.equal(eips.body!.eipAddresses!.eipAddress![0].publicIpAddressPoolId, id);
    assert.equal(eips.body!.eipAddresses!.eipAddress![0].ISP, 'BGP_PRO');

    pool = (await onePool(alice, id))!;
    assert.deepEqual([pool.totalIpNum, pool.usedIpNum, pool.ipAddressRemaining], [15, 2, true]);
    const used = await listBlocks(alice, id, { cidrBlock: '198.51.100.0/28' });
    assert.deepEqual(used.publicIpPoolCidrBlockList!.map((b) => [b.cidrBlock, b.usedIpNum]), [['198.51.100.0/28', 2]]);

    const inUse = await rejection(() => deletePool(alice, id));
    assert.equal(inUse.code, 'OperationDenied.IpInUse');
    assert.equal(inUse.statusCode, 400);
    await release(alice, eip1.allocationId!);
    await release(alice, eip2.allocationId!);
    assert.equal((await onePool(alice, id))!.usedIpNum, 0);
    await deletePool(alice, id);
    assert.equal(await onePool(alice, id), undefined);
    const gone = await rejection(() => deletePool(alice, id));
    assert.equal(gone.code, 'ResourceNotFound.PublicIpAddressPool');
    assert.equal(gone.statusCode, 400);
  });

  it('reports a full pool and its blocks as used up', async () => {
    const id = (await createPool(alice)).publicIpAddressPoolId!;
    await addBlock(alice, id, { cidrBlock: '198.51.100.128/31' });
    const a = await allocate(alice, id);
    const b = await allocate(alice, id);
    assert.deepEqual([a.eipAddress, b.eipAddress].sort(), ['198.51.100.128', '198.51.100.129']);
    const pool = (await onePool(alice, id))!;
    assert.deepEqual([pool.totalIpNum, pool.usedIpNum, pool.ipAddressRemaining], [2, 2, false]);
    const full = await rejection(() => allocate(alice, id));
    assert.equal(full.statusCode, 400);
    await release(alice, a.allocationId!);
    await release(alice, b.allocationId!);
    await deletePool(alice, id);
  });

  it('refuses malformed blocks and any block overlapping a pool of the installation', async () => {
    const mine = (await createPool(alice)).publicIpAddressPoolId!;
    const other = (await createPool(alice)).publicIpAddressPoolId!;
    const bobs = (await createPool(bob)).publicIpAddressPoolId!;
    await addBlock(alice, mine, { cidrBlock: '192.0.2.0/26' });
    await addBlock(bob, bobs, { cidrBlock: '192.0.2.64/26' });

    const cases: [string, Record<string, unknown>, string][] = [
      [mine, { cidrBlock: '192.0.2.0/27' }, 'InvalidCidrBlock.Overlapped'], // the pool's own block
      [other, { cidrBlock: '192.0.2.0/24' }, 'InvalidCidrBlock.Overlapped'], // another pool of the account
      [other, { cidrBlock: '192.0.2.70/32' }, 'InvalidCidrBlock.Overlapped'], // another account's pool
      [other, { cidrBlock: '203.0.113.128/25' }, 'InvalidCidrBlock.Overlapped'], // the system pool
      [other, { cidrBlock: '192.0.2.129/25' }, 'InvalidCidrBlock.Malformed'], // host bits set
      [other, { cidrBlock: '10.0.0.0/8' }, 'InvalidCidrBlock.Malformed'], // wider than /16
      [other, { cidrBlock: 'nonsense' }, 'InvalidCidrBlock.Malformed'],
      [other, { cidrBlock: '192.0.2.128/33' }, 'InvalidCidrBlock.Malformed'],
      [other, { cidrMask: 28 }, 'UnsupportedParameter'],
      [other, {}, 'MissingParameter'],
    ];
    for (const [pool, fields, code] of cases) {
      const e = await rejection(() => addBlock(alice, pool, fields));
      assert.equal(e.code, code, JSON.stringify(fields));
      assert.equal(e.statusCode, 400, JSON.stringify(fields));
    }
    // Another account's pool is not named in the message.
    const foreign = await rejection(() => addBlock(alice, other, { cidrBlock: '192.0.2.64/28' }));
    assert.doesNotMatch(foreign.data.Message, new RegExp(bobs));
    await addBlock(alice, other, { cidrBlock: '192.0.2.128/25' });
    assert.deepEqual((await listBlocks(alice, other)).publicIpPoolCidrBlockList!.map((b) => b.cidrBlock), ['192.0.2.128/25']);
    for (const id of [mine, other]) await deletePool(alice, id);
    await deletePool(bob, bobs);
  });

  it("hides another account's pools", async () => {
    const id = (await createPool(alice)).publicIpAddressPoolId!;
    await addBlock(alice, id, { cidrBlock: '198.51.100.192/28' });
    assert.equal(await onePool(bob, id), undefined);
    assert.equal((await listPools(bob)).totalCount, 0);
    for (const call of [() => addBlock(bob, id, { cidrBlock: '198.51.100.224/28' }), () => listBlocks(bob, id), () => deletePool(bob, id)]) {
      const e = await rejection(call);
      assert.equal(e.code, 'ResourceNotFound.PublicIpAddressPool');
      assert.equal(e.statusCode, 400);
    }
    const e = await rejection(() => allocate(bob, id));
    assert.equal(e.code, 'ResourceNotFound.PublicIpAddressPool');
    assert.equal(e.statusCode, 400);
    assert.equal((await onePool(alice, id))!.totalIpNum, 14);
    await deletePool(alice, id);
  });

  it('enforces the quota, pages with NextToken and filters', async () => {
    const carol = new VpcClient(server.sdkConfig(server.key('carol')));
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const tag = [new $Vpc.CreatePublicIpAddressPoolRequestTag({ key: 'n', value: String(i % 2) })];
      ids.push((await createPool(carol, { name: `pool-${i}`, isp: i === 5 ? 'BGP_PRO' : 'BGP', tag })).publicIpAddressPoolId!);
    }
    const over = await rejection(() => createPool(carol));
    assert.equal(over.code, 'QuotaExceeded.PublicIpAddressPool');
    assert.equal(over.statusCode, 400);

    const page1 = await listPools(carol, { maxResults: 10 });
    assert.equal(page1.totalCount, 12);
    assert.equal(page1.publicIpAddressPoolList!.length, 10);
    assert.ok(page1.nextToken);
    const page2 = await listPools(carol, { maxResults: 10, nextToken: page1.nextToken });
    assert.equal(page2.nextToken, '');
    assert.deepEqual([...page1.publicIpAddressPoolList!, ...page2.publicIpAddressPoolList!].map((p) => p.publicIpAddressPoolId), ids);
    const small = await rejection(() => listPools(carol, { maxResults: 5 }));
    assert.equal(small.code, 'InvalidParameter');
    const badToken = await rejection(() => listPools(carol, { nextToken: 'garbage' }));
    assert.equal(badToken.code, 'InvalidParameter');

    assert.deepEqual((await listPools(carol, { isp: 'BGP_PRO' })).publicIpAddressPoolList!.map((p) => p.publicIpAddressPoolId), [ids[5]]);
    assert.deepEqual((await listPools(carol, { name: 'pool-7' })).publicIpAddressPoolList!.map((p) => p.publicIpAddressPoolId), [ids[7]]);
    const carolV1 = new VpcClient(server.sdkConfig(server.key('carol'), { signatureAlgorithm: 'v2' }));
    const byIds = await listPools(carolV1, { publicIpAddressPoolIds: [ids[0], ids[3]] });
    assert.deepEqual(byIds.publicIpAddressPoolList!.map((p) => p.publicIpAddressPoolId), [ids[0], ids[3]]);
    const tagged = await listPools(carol, { tags: [new $Vpc.ListPublicIpAddressPoolsRequestTags({ key: 'n', value: '1' })] });
    assert.equal(tagged.totalCount, 6);
    assert.ok(tagged.publicIpAddressPoolList!.every((p) => p.tags!.some((t) => t.key === 'n' && t.value === '1')));
    assert.equal((await listPools(carol, { status: 'Deleting' })).totalCount, 0);
    for (const id of ids) await deletePool(carol, id);
    assert.equal((await listPools(carol)).totalCount, 0);
  });
});
