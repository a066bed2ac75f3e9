// NAT gateway, SNAT and DNAT actions through the official VPC SDK against `eci server` (with the EIP
// actions and the EIP controller, which bind the gateway's EIPs).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

type Eip = $Vpc.DescribeEipAddressesResponseBodyEipAddressesEipAddress;

async function describeEip(v: VpcClient, allocationId: string): Promise<Eip | undefined> {
  const r = await v.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId }));
  return r.body!.eipAddresses!.eipAddress![0];
}

/** Polls until the EIP reaches `status` (the EIP controller runs every ~200 ms). */
async function waitForEip(v: VpcClient, allocationId: string, status: string, timeoutMs = 5000): Promise<Eip> {
  const deadline = Date.now() + timeoutMs;
  let last: Eip | undefined;
  while (Date.now() < deadline) {
    last = await describeEip(v, allocationId);
    if (last?.status === status) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`EIP ${allocationId} did not become ${status}; last seen ${last?.status}`);
}

/** Asserts that `call` fails with this code and HTTP status; returns the error. */
async function refused(call: () => Promise<unknown>, code: string, status: number, what = code): Promise<any> {
  const e = await rejection(call);
  assert.equal(e.code, code, `${what}: ${e.data?.Message ?? e.message}`);
  assert.equal(e.statusCode, status, what);
  return e;
}

interface Site {
  v: VpcClient;
  vpcId: string;
  vsw1: string;
  vsw2: string;
  natId: string;
  snatTable: string;
  fwdTable: string;
  /** EIPs bound to the gateway (InUse). */
  eips: { id: string; ip: string }[];
}

/** A VPC 10.0.0.0/16 with vSwitches 10.0.1.0/24 and 10.0.2.0/24, a NAT gateway in the first, and `n` bound EIPs. */
async function site(server: TestServer, account: string, n: number, quotaServer = false): Promise<Site> {
  const v = new VpcClient(server.sdkConfig(server.key(account)));
  const vpcId = (await v.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16' }))).body!.vpcId!;
  const vsw = async (cidr: string, zoneId: string) =>
    (await v.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId, cidrBlock: cidr }))).body!.vSwitchId!;
  const vsw1 = await vsw('10.0.1.0/24', 'cn-hangzhou-h');
  const vsw2 = quotaServer ? '' : await vsw('10.0.2.0/24', 'cn-hangzhou-i');
  const nat = (await v.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId, vSwitchId: vsw1, natType: 'Enhanced', networkType: 'internet', name: 'gw-' + account }))).body!;
  const natId = nat.natGatewayId!;
  const eips: { id: string; ip: string }[] = [];
  for (let i = 0; i < n; i++) {
    const a = (await v.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION }))).body!;
    await v.associateEipAddress(new $Vpc.AssociateEipAddressRequest({ regionId: REGION, allocationId: a.allocationId, instanceId: natId, instanceType: 'Nat' }));
    eips.push({ id: a.allocationId!, ip: a.eipAddress! });
  }
  for (const e of eips) await waitForEip(v, e.id, 'InUse');
  return { v, vpcId, vsw1, vsw2, natId, snatTable: nat.snatTableIds!.snatTableId![0], fwdTable: nat.forwardTableIds!.forwardTableId![0], eips };
}

const snat = (s: Site, fields: Record<string, unknown>) =>
  s.v.createSnatEntry(new $Vpc.CreateSnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, ...fields })).then((r) => r.body!.snatEntryId!);
const snatEntries = (s: Site, fields: Record<string, unknown> = {}) =>
  s.v.describeSnatTableEntries(new $Vpc.DescribeSnatTableEntriesRequest({ regionId: REGION, snatTableId: s.snatTable, ...fields })).then((r) => r.body!);
const dnat = (s: Site, fields: Record<string, unknown>) =>
  s.v.createForwardEntry(new $Vpc.CreateForwardEntryRequest({ regionId: REGION, forwardTableId: s.fwdTable, ...fields })).then((r) => r.body!.forwardEntryId!);
const dnatEntries = (s: Site, fields: Record<string, unknown> = {}) =>
  s.v.describeForwardTableEntries(new $Vpc.DescribeForwardTableEntriesRequest({ regionId: REGION, forwardTableId: s.fwdTable, ...fields })).then((r) => r.body!);
const gateways = (v: VpcClient, fields: Record<string, unknown> = {}) =>
  v.describeNatGateways(new $Vpc.DescribeNatGatewaysRequest({ regionId: REGION, ...fields })).then((r) => r.body!);

describe('NAT gateway', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('creates a gateway and describes it with its tables, vSwitch, tags and EIPs', async () => {
    const key = server.key('alice');
    const v = new VpcClient(server.sdkConfig(key));
    const v1 = new VpcClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' }));
    const vpcId = (await v.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '192.168.0.0/16' }))).body!.vpcId!;
    const vswId = (await v.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId: 'cn-hangzhou-i', cidrBlock: '192.168.3.0/24' }))).body!.vSwitchId!;
    const created = (
      await v1.createNatGateway(
        new $Vpc.CreateNatGatewayRequest({
          regionId: REGION,
          vpcId,
          vSwitchId: vswId,
          natType: 'Enhanced',
          networkType: 'internet',
          name: 'edge gateway',
          description: 'egress for the batch jobs',
          tag: [new $Vpc.CreateNatGatewayRequestTag({ key: 'team', value: 'infra' })],
        }),
      )
    ).body!;
    assert.match(created.natGatewayId!, /^ngw-[a-z2-7]{20}$/);
    assert.match(created.snatTableIds!.snatTableId![0], /^stb-[a-z2-7]{20}$/);
    assert.match(created.forwardTableIds!.forwardTableId![0], /^ftb-[a-z2-7]{20}$/);
    assert.deepEqual(created.fullNatTableIds!.fullNatTableId, []);

    const listed = await gateways(v, { natGatewayId: created.natGatewayId });
    assert.equal(listed.totalCount, 1);
    const g = listed.natGateways!.natGateway![0];
    assert.equal(g.natGatewayId, created.natGatewayId);
    assert.equal(g.vpcId, vpcId);
    assert.equal(g.regionId, REGION);
    assert.equal(g.status, 'Available');
    assert.equal(g.name, 'edge gateway');
    assert.equal(g.description, 'egress for the batch jobs');
    assert.equal(g.natType, 'Enhanced');
    assert.equal(g.networkType, 'internet');
    assert.equal(g.eipBindMode, 'MULTI_BINDED');
    assert.equal(g.internetChargeType, 'PayByLcu');
    assert.equal(g.instanceChargeType, 'PostPaid');
    assert.equal(g.icmpReplyEnabled, true);
    assert.match(g.creationTime!, RFC3339);
    assert.deepEqual(g.snatTableIds!.snatTableId, created.snatTableIds!.snatTableId);
    assert.deepEqual(g.forwardTableIds!.forwardTableId, created.forwardTableIds!.forwardTableId);
    assert.equal(g.natGatewayPrivateInfo!.vswitchId, vswId);
    assert.equal(g.natGatewayPrivateInfo!.izNo, 'cn-hangzhou-i');
    assert.deepEqual(g.tags!.tag!.map((t) => [t.tagKey, t.tagValue]), [['team', 'infra']]);
    assert.deepEqual(g.ipLists!.ipList, []);

    // Filters: VPC, name, tags, zone, status; paging.
    const second = (await v.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId, vSwitchId: vswId, name: 'second' }))).body!.natGatewayId!;
    assert.deepEqual((await gateways(v, { vpcId })).natGateways!.natGateway!.map((x) => x.natGatewayId), [created.natGatewayId, second]);
    assert.deepEqual((await gateways(v, { name: 'second' })).natGateways!.natGateway!.map((x) => x.natGatewayId), [second]);
    assert.deepEqual((await gateways(v, { tag: [new $Vpc.DescribeNatGatewaysRequestTag({ key: 'team', value: 'infra' })] })).natGateways!.natGateway!.map((x) => x.natGatewayId), [created.natGatewayId]);
    assert.equal((await gateways(v, { zoneId: 'cn-hangzhou-i' })).totalCount, 2);
    assert.equal((await gateways(v, { zoneId: 'cn-hangzhou-h' })).totalCount, 0);
    assert.equal((await gateways(v, { status: 'Available', vpcId })).totalCount, 2);
    const page2 = await gateways(v, { vpcId, pageSize: 1, pageNumber: 2 });
    assert.deepEqual([page2.totalCount, page2.pageNumber, page2.pageSize], [2, 2, 1]);
    assert.deepEqual(page2.natGateways!.natGateway!.map((x) => x.natGatewayId), [second]);

    // A gateway without entries or EIPs deletes without Force; its vSwitch and VPC are then free to go.
    await refused(() => v.deleteVSwitch(new $Vpc.DeleteVSwitchRequest({ regionId: REGION, vSwitchId: vswId })), 'DependencyViolation.EnhancedNatgw', 400);
    for (const id of [created.natGatewayId!, second]) await v.deleteNatGateway(new $Vpc.DeleteNatGatewayRequest({ regionId: REGION, natGatewayId: id }));
    assert.equal((await gateways(v, { vpcId })).totalCount, 0);
    await refused(() => v.deleteNatGateway(new $Vpc.DeleteNatGatewayRequest({ regionId: REGION, natGatewayId: second })), 'InvalidNatGatewayId.NotFound', 404);
    await v.deleteVSwitch(new $Vpc.DeleteVSwitchRequest({ regionId: REGION, vSwitchId: vswId }));
    await v.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId }));
  });

  it('refuses a gateway outside a VPC of the account, or in a vSwitch of another VPC', async () => {
    const v = new VpcClient(server.sdkConfig(server.key('carol')));
    const vpcA = (await v.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16' }))).body!.vpcId!;
    const vpcB = (await v.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.1.0.0/16' }))).body!.vpcId!;
    const vswB = (await v.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId: vpcB, zoneId: 'cn-hangzhou-h', cidrBlock: '10.1.1.0/24' }))).body!.vSwitchId!;
    const req = (f: Record<string, unknown>) => () => v.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId: vpcA, vSwitchId: vswB, ...f }));
    await refused(req({ vpcId: 'vpc-doesnotexist00000000' }), 'InvalidVpcId.NotFound', 404);
    await refused(req({}), 'InvalidVSwitchId.NotFound', 404, 'a vSwitch of another VPC');
    await refused(req({ vSwitchId: 'vsw-doesnotexist00000000' }), 'InvalidVSwitchId.NotFound', 404);
    await refused(req({ vpcId: vpcB, vSwitchId: undefined }), 'MissingParameter', 400, 'no vSwitch');
    await refused(req({ vpcId: vpcB, natType: 'Normal' }), 'InvalidParameter', 400, 'NatType Normal');
    await refused(req({ vpcId: vpcB, networkType: 'public' }), 'InvalidParameter', 400, 'NetworkType public');
    await refused(req({ vpcId: vpcB, name: 'http://gw' }), 'InvalidParameter.Name.Malformed', 400);
    assert.equal((await gateways(v)).totalCount, 0);
  });

  it('adds SNAT entries scoped to a vSwitch, a CIDR or a host, with every rule\'s code', async () => {
    const s = await site(server, 'dave', 3);
    const [a, b, c] = s.eips;

    // Scope: exactly one of SourceVSwitchId / SourceCIDR.
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1, sourceCIDR: '10.0.1.0/24' }), 'InvalidParameter', 400, 'both scopes');
    await refused(() => snat(s, { snatIp: a.ip }), 'MissingParameter', 400, 'no scope');
    await refused(() => snat(s, { sourceVSwitchId: s.vsw1 }), 'MissingParameter', 400, 'no SnatIp');
    await refused(() => snat(s, { snatTableId: 'stb-doesnotexist00000000', snatIp: a.ip, sourceVSwitchId: s.vsw1 }), 'InvalidSnatTableId.NotFound', 404);
    await refused(() => snat(s, { snatTableId: s.fwdTable, snatIp: a.ip, sourceVSwitchId: s.vsw1 }), 'InvalidSnatTableId.NotFound', 404, 'a forward table is no SNAT table');

    // SnatIp: well-formed, an EIP of the account, bound to THIS gateway.
    for (const bad of ['203.0.113.300', 'nonsense', `${a.ip},,${b.ip}`, `${a.ip},${a.ip}`])
      await refused(() => snat(s, { snatIp: bad, sourceVSwitchId: s.vsw1 }), 'InvalidSnatIp.Malformed', 400, bad);
    await refused(() => snat(s, { snatIp: '198.51.100.7', sourceVSwitchId: s.vsw1 }), 'InvalidSnatIp.NotFound', 404, 'not an EIP');
    const loose = (await s.v.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION }))).body!;
    await refused(() => snat(s, { snatIp: loose.eipAddress, sourceVSwitchId: s.vsw1 }), 'InvalidIp.NotInNatgw', 400, 'an unbound EIP');
    await refused(() => snat(s, { snatIp: `${a.ip},${loose.eipAddress}`, sourceVSwitchId: s.vsw1 }), 'InvalidIp.NotInNatgw', 400, 'one unbound EIP of two');

    // Source: the vSwitch must be in the gateway's VPC; a CIDR must be one, inside the VPC.
    const otherVpc = (await s.v.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '172.16.0.0/16' }))).body!.vpcId!;
    const foreignVsw = (await s.v.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId: otherVpc, zoneId: 'cn-hangzhou-h', cidrBlock: '172.16.1.0/24' }))).body!.vSwitchId!;
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: foreignVsw }), 'InvalidVSwitchId.NotFound', 404, 'a vSwitch of another VPC');
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: 'vsw-doesnotexist00000000' }), 'InvalidVSwitchId.NotFound', 404);
    await refused(() => snat(s, { snatIp: a.ip, sourceCIDR: '10.0.1.7/24' }), 'InvalidParameter', 400, 'host bits set');
    await refused(() => snat(s, { snatIp: a.ip, sourceCIDR: '172.16.1.0/24' }), 'NOT_ALLOW_USE_SOURCECIDR', 400, 'outside the VPC');
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1, snatEntryName: 'http://x' }), 'InvalidParameter.Name.Malformed', 400);
    assert.equal((await snatEntries(s)).totalCount, 0, 'nothing was written by refused requests');

    // A vSwitch scope answers the vSwitch's CIDR.
    const byVsw = await snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1, snatEntryName: 'jobs', eipAffinity: 1 });
    assert.match(byVsw, /^snat-[a-z2-7]{20}$/);
    const one = (await snatEntries(s, { snatEntryId: byVsw })).snatTableEntries!.snatTableEntry!;
    assert.deepEqual(
      one.map((e) => [e.snatEntryId, e.snatTableId, e.natGatewayId, e.snatIp, e.sourceCIDR, e.sourceVSwitchId, e.snatEntryName, e.eipAffinity, e.status]),
      [[byVsw, s.snatTable, s.natId, a.ip, '10.0.1.0/24', s.vsw1, 'jobs', '1', 'Available']],
    );
    await refused(() => snat(s, { snatIp: b.ip, sourceVSwitchId: s.vsw1 }), 'Forbidden.SourceVSwitchId.Duplicated', 400, 'the same vSwitch');
    await refused(() => snat(s, { snatIp: b.ip, sourceCIDR: '10.0.1.0/24' }), 'Forbidden.SourceCIDR.Duplicated', 400, 'the vSwitch CIDR as a CIDR');

    // A custom CIDR, several EIPs; a host inside a scoped vSwitch (the more specific entry wins).
    const byCidr = await snat(s, { snatIp: `${b.ip},${c.ip}`, sourceCIDR: '10.0.8.0/22' });
    await refused(() => snat(s, { snatIp: a.ip, sourceCIDR: '10.0.8.0/22' }), 'Forbidden.SourceCIDR.Duplicated', 400, 'the same CIDR');
    const host = await snat(s, { snatIp: b.ip, sourceCIDR: '10.0.1.9' });
    const all = await snatEntries(s);
    assert.equal(all.totalCount, 3);
    const byId = new Map(all.snatTableEntries!.snatTableEntry!.map((e) => [e.snatEntryId, e]));
    assert.deepEqual([byId.get(byCidr)!.snatIp, byId.get(byCidr)!.sourceCIDR, byId.get(byCidr)!.sourceVSwitchId, byId.get(byCidr)!.eipAffinity], [`${b.ip},${c.ip}`, '10.0.8.0/22', '', '0']);
    assert.equal(byId.get(host)!.sourceCIDR, '10.0.1.9/32');

    // Filters, and listing by gateway.
    const ids = (r: $Vpc.DescribeSnatTableEntriesResponseBody) => r.snatTableEntries!.snatTableEntry!.map((e) => e.snatEntryId).sort();
    assert.deepEqual(ids(await snatEntries(s, { snatIp: b.ip })), [byCidr, host].sort());
    assert.deepEqual(ids(await snatEntries(s, { sourceVSwitchId: s.vsw1 })), [byVsw]);
    assert.deepEqual(ids(await snatEntries(s, { sourceCIDR: '10.0.8.0/22' })), [byCidr]);
    assert.deepEqual(ids(await snatEntries(s, { snatEntryName: 'jobs' })), [byVsw]);
    assert.deepEqual(ids(await snatEntries(s, { snatTableId: undefined, natGatewayId: s.natId })), [byVsw, byCidr, host].sort());
    await refused(() => snatEntries(s, { snatTableId: undefined }), 'MissingParameter', 400, 'neither table nor gateway');
    await refused(() => snatEntries(s, { snatTableId: 'stb-doesnotexist00000000' }), 'InvalidSnatTableId.NotFound', 404);
    const paged = await snatEntries(s, { pageSize: 2, pageNumber: 2 });
    assert.deepEqual([paged.totalCount, paged.pageNumber, paged.pageSize, paged.snatTableEntries!.snatTableEntry!.length], [3, 2, 2, 1]);

    // DescribeNatGateways tells which EIPs SNAT uses.
    const g = (await gateways(s.v, { natGatewayId: s.natId })).natGateways!.natGateway![0];
    const using = new Map(g.ipLists!.ipList!.map((x) => [x.ipAddress, [x.allocationId, x.usingStatus, x.snatEntryEnabled]]));
    assert.deepEqual(using, new Map([[a.ip, [a.id, 'UsedBySnatTable', true]], [b.ip, [b.id, 'UsedBySnatTable', true]], [c.ip, [c.id, 'UsedBySnatTable', true]]]));

    // Modify: EIPs, name and affinity change; the scope does not; the same checks apply.
    await s.v.modifySnatEntry(new $Vpc.ModifySnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: byVsw, snatIp: `${c.ip},${a.ip}`, snatEntryName: 'jobs-2', eipAffinity: 0 }));
    const modified = (await snatEntries(s, { snatEntryId: byVsw })).snatTableEntries!.snatTableEntry![0];
    assert.deepEqual([modified.snatIp, modified.snatEntryName, modified.eipAffinity, modified.sourceVSwitchId], [`${c.ip},${a.ip}`, 'jobs-2', '0', s.vsw1]);
    await refused(
      () => s.v.modifySnatEntry(new $Vpc.ModifySnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: byVsw, snatIp: loose.eipAddress })),
      'InvalidIp.NotInNatgw',
      400,
    );
    await refused(
      () => s.v.modifySnatEntry(new $Vpc.ModifySnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: 'snat-doesnotexist0000000', snatEntryName: 'x2' })),
      'InvalidSnatEntryId.NotFound',
      404,
    );

    // Delete: gone, and a second delete is NotFound.
    await s.v.deleteSnatEntry(new $Vpc.DeleteSnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: host }));
    assert.equal((await snatEntries(s, { snatEntryId: host })).totalCount, 0);
    await refused(() => s.v.deleteSnatEntry(new $Vpc.DeleteSnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: host })), 'InvalidSnatEntryId.NotFound', 404);
    // The host's scope is free again.
    await snat(s, { snatIp: b.ip, sourceCIDR: '10.0.1.9/32' });
  });

  it('makes CreateSnatEntry idempotent by ClientToken, and DryRun writes nothing', async () => {
    const s = await site(server, 'erin', 1);
    const [a] = s.eips;
    const first = await snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1, clientToken: 'snat-token-1' });
    const again = await snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1, clientToken: 'snat-token-1' });
    assert.equal(again, first);
    assert.equal((await snatEntries(s)).totalCount, 1);
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw2, clientToken: 'snat-token-1' }), 'IdempotentParameterMismatch', 400);
    // Without the token the same request is a duplicate scope.
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1 }), 'Forbidden.SourceVSwitchId.Duplicated', 400);

    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw2, dryRun: true }), 'DryRunOperation', 400);
    await refused(() => snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1, dryRun: true }), 'Forbidden.SourceVSwitchId.Duplicated', 400, 'a dry run still checks');
    assert.equal((await snatEntries(s)).totalCount, 1);
  });

  it('adds DNAT entries: port and range mappings, IP mapping, and every rule\'s code', async () => {
    const s = await site(server, 'frank', 4);
    const [a, b, c, d] = s.eips;
    const base = { externalIp: a.ip, externalPort: '80', internalIp: '10.0.1.10', internalPort: '8080', ipProtocol: 'TCP' };

    await refused(() => dnat(s, { ...base, forwardTableId: 'ftb-doesnotexist00000000' }), 'InvalidForwardTableId.NotFound', 404);
    await refused(() => dnat(s, { ...base, forwardTableId: s.snatTable }), 'InvalidForwardTableId.NotFound', 404, 'a SNAT table is no forward table');
    await refused(() => dnat(s, { ...base, externalPort: undefined }), 'MissingParameter', 400);
    await refused(() => dnat(s, { ...base, externalIp: '203.0.113.256' }), 'InvalidExternalIp.Malformed', 400);
    await refused(() => dnat(s, { ...base, externalIp: '198.51.100.7' }), 'InvalidExternalIp.NotFound', 404);
    const loose = (await s.v.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION }))).body!;
    await refused(() => dnat(s, { ...base, externalIp: loose.eipAddress }), 'InvalidIp.NotInNatgw', 400);
    for (const [port, why] of [['0', 'zero'], ['65536', 'too big'], ['80-90', 'a dash range'], ['90/80', 'a downward range'], ['http', 'a word']])
      await refused(() => dnat(s, { ...base, externalPort: port }), 'InvalidExternalPort.Malformed', 400, why);
    await refused(() => dnat(s, { ...base, internalPort: '70000' }), 'InvalidInternalPort.Malformed', 400);
    await refused(() => dnat(s, { ...base, externalPort: '1000/1010', internalPort: '2000/2005' }), 'InvalidInternalPort.Malformed', 400, 'ranges of different sizes');
    await refused(() => dnat(s, { ...base, externalPort: '1000/1010', internalPort: '2000' }), 'InvalidInternalPort.Malformed', 400, 'a range onto one port');
    await refused(() => dnat(s, { ...base, ipProtocol: 'ICMP' }), 'InvalidProtocal.ValueNotSupported', 400);
    await refused(() => dnat(s, { ...base, ipProtocol: 'Any' }), 'InvalidExternalPort.Malformed', 400, 'Any with ports');
    await refused(() => dnat(s, { ...base, externalPort: 'Any' }), 'InvalidExternalPort.Malformed', 400, 'port Any over TCP');
    await refused(() => dnat(s, { ...base, internalIp: '10.0.1' }), 'InvalidInternalIp.Malformed', 400);
    await refused(() => dnat(s, { ...base, internalIp: '10.1.0.5' }), 'Forbidden.InternalIpOutOfVpcCIDR', 400);
    assert.equal((await dnatEntries(s)).totalCount, 0, 'nothing was written by refused requests');

    const web = await dnat(s, { ...base, forwardEntryName: 'web' });
    assert.match(web, /^fwd-[a-z2-7]{20}$/);
    const listed = (await dnatEntries(s, { forwardEntryId: web })).forwardTableEntries!.forwardTableEntry!;
    assert.deepEqual(
      listed.map((e) => [e.forwardEntryId, e.forwardTableId, e.natGatewayId, e.externalIp, e.externalPort, e.internalIp, e.internalPort, e.ipProtocol, e.forwardEntryName, e.status]),
      [[web, s.fwdTable, s.natId, a.ip, '80', '10.0.1.10', '8080', 'tcp', 'web', 'Available']],
    );
    const range = await dnat(s, { ...base, externalPort: '1000/1010', internalIp: '10.0.2.11', internalPort: '2000/2010' });
    const dns = await dnat(s, { ...base, externalPort: '80', internalIp: '10.0.2.12', internalPort: '53', ipProtocol: 'udp' });

    // Clashes on the external side (same EIP, overlapping ports, same protocol) and the internal side.
    await refused(() => dnat(s, { ...base, internalIp: '10.0.2.13' }), 'Forbidden.ExternalPort.Duplicated', 400, 'the same external port');
    await refused(() => dnat(s, { ...base, externalPort: '1005', internalIp: '10.0.2.13', internalPort: '22' }), 'Forbidden.ExternalPort.Duplicated', 400, 'a port inside a range');
    await refused(() => dnat(s, { ...base, externalIp: b.ip }), 'OperationUnsupported.ForwardEntry', 400, 'the same internal address and port');
    await refused(() => dnat(s, { ...base, externalIp: b.ip, externalPort: '22', internalIp: '10.0.2.11', internalPort: '2010' }), 'OperationUnsupported.ForwardEntry', 400, 'inside an internal range');
    const ssh = await dnat(s, { ...base, externalIp: b.ip, externalPort: '22', internalIp: '10.0.1.10', internalPort: '22' });

    // IP mapping takes the whole EIP: no other DNAT on it, no SNAT with it, and not on an EIP SNAT or DNAT uses.
    const mapped = await dnat(s, { externalIp: c.ip, externalPort: 'Any', internalIp: '10.0.2.20', internalPort: 'Any', ipProtocol: 'Any' });
    const m = (await dnatEntries(s, { forwardEntryId: mapped })).forwardTableEntries!.forwardTableEntry![0];
    assert.deepEqual([m.externalPort, m.internalPort, m.ipProtocol], ['any', 'any', 'any']);
    await refused(() => dnat(s, { ...base, externalIp: c.ip, internalIp: '10.0.2.21' }), 'Forbidden.IpUsedInForwardTable', 400, 'a port on an IP-mapped EIP');
    await refused(() => snat(s, { snatIp: c.ip, sourceVSwitchId: s.vsw1 }), 'Forbidden.IpUsedInForwardTable', 400, 'SNAT through an IP-mapped EIP');
    await refused(() => dnat(s, { externalIp: b.ip, externalPort: 'Any', internalIp: '10.0.2.22', internalPort: 'Any', ipProtocol: 'Any' }), 'Forbidden.IpUsedInForwardTable', 400, 'IP mapping of an EIP with port entries');
    await snat(s, { snatIp: d.ip, sourceVSwitchId: s.vsw1 });
    await refused(() => dnat(s, { externalIp: d.ip, externalPort: 'Any', internalIp: '10.0.2.23', internalPort: 'Any', ipProtocol: 'Any' }), 'Forbidden.ExternalIp.UsedInSnatTable', 400);
    // A port mapping may share an EIP with SNAT.
    const shared = await dnat(s, { ...base, externalIp: d.ip, externalPort: '443', internalIp: '10.0.2.24', internalPort: '443' });

    const g = (await gateways(s.v, { natGatewayId: s.natId })).natGateways!.natGateway![0];
    const using = new Map(g.ipLists!.ipList!.map((x) => [x.ipAddress, x.usingStatus]));
    assert.deepEqual(using, new Map([[a.ip, 'UsedByForwardTable'], [b.ip, 'UsedByForwardTable'], [c.ip, 'UsedByForwardTable'], [d.ip, 'UsedBySnatTable']]));

    // Filters.
    const ids = (r: $Vpc.DescribeForwardTableEntriesResponseBody) => r.forwardTableEntries!.forwardTableEntry!.map((e) => e.forwardEntryId).sort();
    assert.equal((await dnatEntries(s)).totalCount, 6);
    assert.deepEqual(ids(await dnatEntries(s, { externalIp: a.ip })), [web, range, dns].sort());
    assert.deepEqual(ids(await dnatEntries(s, { externalIp: a.ip, ipProtocol: 'UDP' })), [dns]);
    assert.deepEqual(ids(await dnatEntries(s, { externalPort: '80', ipProtocol: 'TCP' })), [web]);
    assert.deepEqual(ids(await dnatEntries(s, { externalPort: 'Any' })), [mapped]);
    assert.deepEqual(ids(await dnatEntries(s, { internalIp: '10.0.1.10' })), [web, ssh].sort());
    assert.deepEqual(ids(await dnatEntries(s, { forwardTableId: undefined, natGatewayId: s.natId, internalPort: '443' })), [shared]);

    // Modify: the result passes the same checks, the entry itself excepted.
    const modify = (fields: Record<string, unknown>) =>
      s.v.modifyForwardEntry(new $Vpc.ModifyForwardEntryRequest({ regionId: REGION, forwardTableId: s.fwdTable, forwardEntryId: web, ...fields }));
    await modify({ internalPort: '8081', forwardEntryName: 'web-2' });
    const w = (await dnatEntries(s, { forwardEntryId: web })).forwardTableEntries!.forwardTableEntry![0];
    assert.deepEqual([w.externalPort, w.internalPort, w.internalIp, w.ipProtocol, w.forwardEntryName], ['80', '8081', '10.0.1.10', 'tcp', 'web-2']);
    await refused(() => modify({ externalPort: '1001' }), 'Forbidden.ExternalPort.Duplicated', 400);
    await refused(() => modify({ internalIp: '10.0.1.10', internalPort: '22', externalPort: '8022' }), 'OperationUnsupported.ForwardEntry', 400);
    await refused(() => modify({ externalIp: c.ip }), 'Forbidden.IpUsedInForwardTable', 400);
    await refused(() => modify({ internalIp: '192.168.1.1' }), 'Forbidden.InternalIpOutOfVpcCIDR', 400);
    await refused(() => modify({ forwardEntryId: 'fwd-doesnotexist00000000' }), 'InvalidForwardEntryId.NotFound', 404);
    await refused(() => modify({ forwardEntryId: range, externalPort: '2000/2001' }), 'InvalidInternalPort.Malformed', 400, 'the stored internal range no longer fits');

    await s.v.deleteForwardEntry(new $Vpc.DeleteForwardEntryRequest({ regionId: REGION, forwardTableId: s.fwdTable, forwardEntryId: mapped }));
    await refused(() => s.v.deleteForwardEntry(new $Vpc.DeleteForwardEntryRequest({ regionId: REGION, forwardTableId: s.fwdTable, forwardEntryId: mapped })), 'InvalidForwardEntryId.NotFound', 404);
    // With the IP mapping gone, its EIP serves SNAT again.
    await snat(s, { snatIp: c.ip, sourceVSwitchId: s.vsw2 });
  });

  it('deletes a gateway only without dependants, or with Force, which removes entries and unbinds EIPs', async () => {
    const s = await site(server, 'gina', 2);
    const [a, b] = s.eips;
    const del = (force?: boolean) => () => s.v.deleteNatGateway(new $Vpc.DeleteNatGatewayRequest({ regionId: REGION, natGatewayId: s.natId, force }));
    const snatId = await snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1 });
    const fwdId = await dnat(s, { externalIp: b.ip, externalPort: '80', internalIp: '10.0.1.10', internalPort: '80', ipProtocol: 'TCP' });

    await refused(del(), 'DependencyViolation.SnatEntry', 400);
    await refused(del(false), 'DependencyViolation.SnatEntry', 400);
    await s.v.deleteSnatEntry(new $Vpc.DeleteSnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: snatId }));
    await refused(del(), 'DependencyViolation.ForwardEntry', 400);
    await s.v.deleteForwardEntry(new $Vpc.DeleteForwardEntryRequest({ regionId: REGION, forwardTableId: s.fwdTable, forwardEntryId: fwdId }));
    await refused(del(), 'DependencyViolation.Eip', 400);
    assert.equal((await gateways(s.v, { natGatewayId: s.natId })).totalCount, 1, 'a refused delete leaves the gateway');

    await snat(s, { snatIp: a.ip, sourceVSwitchId: s.vsw1 });
    await dnat(s, { externalIp: b.ip, externalPort: '80', internalIp: '10.0.1.10', internalPort: '80', ipProtocol: 'TCP' });
    await del(true)();
    assert.equal((await gateways(s.v, { natGatewayId: s.natId })).totalCount, 0);
    await refused(() => snatEntries(s), 'InvalidSnatTableId.NotFound', 404, 'the SNAT table went with the gateway');
    await refused(() => dnatEntries(s), 'InvalidForwardTableId.NotFound', 404, 'the forward table went with the gateway');
    for (const e of s.eips) {
      const now = (await describeEip(s.v, e.id))!;
      assert.ok(now.status === 'Unassociating' || now.status === 'Available', now.status);
      const free = await waitForEip(s.v, e.id, 'Available');
      assert.deepEqual([free.instanceId, free.instanceType, free.ipAddress], ['', '', e.ip]);
    }
    await refused(del(true), 'InvalidNatGatewayId.NotFound', 404);
    // The VPC holds no gateway any more (its vSwitches still block it).
    await refused(() => s.v.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId: s.vpcId })), 'DependencyViolation.VSwitch', 400);
  });

  it('hides one account\'s gateways, tables and EIPs from another', async () => {
    const s = await site(server, 'hank', 1);
    const [a] = s.eips;
    const snatId = await snat(s, { snatIp: a.ip, sourceCIDR: '10.0.0.0/16' });
    const ivy = await site(server, 'ivy', 1);
    const as = (t: Site): Site => ({ ...t, v: ivy.v });
    const hankAsIvy = as(s);

    assert.equal((await gateways(ivy.v, { natGatewayId: s.natId })).totalCount, 0);
    assert.deepEqual((await gateways(ivy.v)).natGateways!.natGateway!.map((g) => g.natGatewayId), [ivy.natId]);
    await refused(() => ivy.v.deleteNatGateway(new $Vpc.DeleteNatGatewayRequest({ regionId: REGION, natGatewayId: s.natId, force: true })), 'InvalidNatGatewayId.NotFound', 404);
    await refused(() => snat(hankAsIvy, { snatIp: ivy.eips[0].ip, sourceCIDR: '10.0.0.0/16' }), 'InvalidSnatTableId.NotFound', 404);
    await refused(() => snatEntries(hankAsIvy), 'InvalidSnatTableId.NotFound', 404);
    await refused(() => snatEntries(hankAsIvy, { snatTableId: undefined, natGatewayId: s.natId }), 'InvalidNatGatewayId.NotFound', 404);
    await refused(() => dnatEntries(hankAsIvy), 'InvalidForwardTableId.NotFound', 404);
    await refused(
      () => dnat(hankAsIvy, { externalIp: ivy.eips[0].ip, externalPort: '80', internalIp: '10.0.1.10', internalPort: '80', ipProtocol: 'TCP' }),
      'InvalidForwardTableId.NotFound',
      404,
    );
    await refused(() => ivy.v.deleteSnatEntry(new $Vpc.DeleteSnatEntryRequest({ regionId: REGION, snatTableId: s.snatTable, snatEntryId: snatId })), 'InvalidSnatTableId.NotFound', 404);
    await refused(() => ivy.v.deleteSnatEntry(new $Vpc.DeleteSnatEntryRequest({ regionId: REGION, snatTableId: ivy.snatTable, snatEntryId: snatId })), 'InvalidSnatEntryId.NotFound', 404);
    // Hank's EIP address is no EIP of Ivy's.
    await refused(() => snat(ivy, { snatIp: a.ip, sourceCIDR: '10.0.0.0/16' }), 'InvalidSnatIp.NotFound', 404);
    await refused(() => dnat(ivy, { externalIp: a.ip, externalPort: '80', internalIp: '10.0.1.10', internalPort: '80', ipProtocol: 'TCP' }), 'InvalidExternalIp.NotFound', 404);
    // Nor may Ivy put a gateway into Hank's VPC.
    await refused(() => ivy.v.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId: s.vpcId, vSwitchId: s.vsw1 })), 'InvalidVpcId.NotFound', 404);
    // Hank's entry is untouched.
    assert.equal((await snatEntries(s, { snatEntryId: snatId })).totalCount, 1);
  });
});

describe('NAT gateway quotas', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { quotas: { natGateways: 1, snatEntriesPerTable: 1, forwardEntriesPerTable: 1 } } });
  });
  after(() => server.close());

  it('refuses a gateway, a SNAT entry and a DNAT entry beyond their quotas', async () => {
    const s = await site(server, 'alice', 1, true);
    const [a] = s.eips;
    await refused(() => s.v.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId: s.vpcId, vSwitchId: s.vsw1 })), 'QuotaExceeded.NatGateway', 400);
    // The quota is per account.
    const other = new VpcClient(server.sdkConfig(server.key('bob')));
    const vpcId = (await other.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16' }))).body!.vpcId!;
    const vsw = (await other.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId: 'cn-hangzhou-h', cidrBlock: '10.0.1.0/24' }))).body!.vSwitchId!;
    await other.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId, vSwitchId: vsw }));

    await snat(s, { snatIp: a.ip, sourceCIDR: '10.0.1.0/25' });
    await refused(() => snat(s, { snatIp: a.ip, sourceCIDR: '10.0.1.128/25' }), 'Forbidden.SnatEntryCountLimited', 400);
    const base = { externalIp: a.ip, externalPort: '80', internalIp: '10.0.1.10', internalPort: '80', ipProtocol: 'TCP' };
    await dnat(s, base);
    await refused(() => dnat(s, { ...base, externalPort: '81', internalPort: '81' }), 'QuotaExceeded', 400);
    assert.equal((await snatEntries(s)).totalCount, 1);
    assert.equal((await dnatEntries(s)).totalCount, 1);
  });
});
