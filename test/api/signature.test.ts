// Request authentication end to end against `eci server`: the official SDK (V3 by default, V1 with
// signatureAlgorithm v2), pop-core (V1, GET and POST), and raw requests from test/helpers/sign.ts for
// what no SDK sends (stale clocks, reused nonces, tampering, Terraform's query/form split).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { $Vpc, PopCore, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestKey, type TestServer } from '../helpers/server.ts';
import { closeConnections, send, signV1, signV3, type RawRequest, type V1Options, type V3Options } from '../helpers/sign.ts';

const REGION = 'cn-hangzhou';
const VPC_VERSION = '2016-04-28';
const MINUTE = 60_000;

/** Values that stress the percent-encoding on the way in and the JSON on the way out. */
const VALUES: [string, string][] = [
  ['space', 'a b  c'],
  ['sub-delims', "!*'()"],
  ['unicode', 'héllo wörld ✓ 漢字 😀'],
  ['plus', '1+1=2 +x+'],
  ['ampersand and equals', 'a&b=c&&=='],
  ['percent', '100% %41 %zz %'],
  ['tilde', '~user~'],
  ['newlines', 'line1\nline2\r\nline3\t.'],
  ['slashes and colons', 'http://x/y?z=1#f'],
  ['quotes and backslash', '"q" \\ \'s\''],
  ['long', 'é'.repeat(100) + 'x'.repeat(156)],
];

/** Create, read back and delete a VPC whose Description is `value`, through one kind of client. */
interface Flavour {
  create(description: string): Promise<string>;
  description(vpcId: string): Promise<string | undefined>;
  remove(vpcId: string): Promise<void>;
}

function sdkFlavour(client: VpcClient): Flavour {
  return {
    async create(description) {
      const r = await client.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16', description }));
      return r.body!.vpcId!;
    },
    async description(vpcId) {
      const r = await client.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION, vpcId }));
      return r.body!.vpcs!.vpc![0]?.description;
    },
    async remove(vpcId) {
      await client.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId }));
    },
  };
}

type Call = (action: string, params: Record<string, string>) => Promise<any>;

function callFlavour(call: Call): Flavour {
  return {
    async create(description) {
      return (await call('CreateVpc', { RegionId: REGION, CidrBlock: '10.0.0.0/16', Description: description })).VpcId;
    },
    async description(vpcId) {
      return (await call('DescribeVpcs', { RegionId: REGION, VpcId: vpcId })).Vpcs.Vpc[0]?.Description;
    },
    async remove(vpcId) {
      await call('DeleteVpc', { RegionId: REGION, VpcId: vpcId });
    },
  };
}

async function ok(endpoint: string, req: RawRequest): Promise<any> {
  const r = await send(endpoint, req);
  assert.equal(r.status, 200, `${req.method} ${req.path.slice(0, 200)} → ${r.status} ${r.text}`);
  assert.equal(r.json.Code, undefined);
  return r.json;
}

describe('signatures', () => {
  let server: TestServer;
  let key: TestKey;
  const v1 = (o: Omit<V1Options, 'version'> & { version?: string }, k: { accessKeyId: string; accessKeySecret: string } = key) =>
    signV1(k, { version: VPC_VERSION, host: server.endpoint, ...o });
  const v3 = (o: Omit<V3Options, 'version'> & { version?: string }, k: { accessKeyId: string; accessKeySecret: string } = key) =>
    signV3(k, { version: VPC_VERSION, host: server.endpoint, ...o });
  const describeVpcs = { action: 'DescribeVpcs', params: { RegionId: REGION } };

  async function expectError(req: RawRequest, status: number, code: string): Promise<any> {
    const r = await send(server.endpoint, req);
    assert.equal(r.json?.Code, code, `${req.method} ${req.path.slice(0, 200)} → ${r.status} ${r.text}`);
    assert.equal(r.status, status, `${code}: ${r.text}`);
    assert.deepEqual(Object.keys(r.json).sort(), ['Code', 'HostId', 'Message', 'Recommend', 'RequestId']);
    return r.json;
  }

  before(async () => {
    server = await startServer();
    key = server.key('sig-alice');
  });
  after(async () => {
    closeConnections();
    await server.close();
  });

  describe('round trip of awkward values through every client', () => {
    const pop = () => new PopCore({ accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, endpoint: `http://${server.endpoint}`, apiVersion: VPC_VERSION });
    const flavours: [string, () => Flavour][] = [
      ['SDK V3 (default)', () => sdkFlavour(new VpcClient(server.sdkConfig(key)))],
      ['SDK V1 (signatureAlgorithm v2)', () => sdkFlavour(new VpcClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' })))],
      ['pop-core GET', () => callFlavour((action, params) => pop().request(action, params))],
      ['pop-core POST', () => callFlavour((action, params) => pop().request(action, params, { method: 'POST' }))],
      ['raw V1 GET', () => callFlavour((action, params) => ok(server.endpoint, v1({ action, params })))],
      ['raw V1 Terraform split', () => callFlavour((action, params) => ok(server.endpoint, v1({ action, params, method: 'POST', placement: 'split' })))],
      ['raw V1 POST, all in the form body', () => callFlavour((action, params) => ok(server.endpoint, v1({ action, params, method: 'POST', placement: 'form' })))],
      ['raw V3 query', () => callFlavour((action, params) => ok(server.endpoint, v3({ action, params })))],
      ['raw V3 form body', () => callFlavour((action, params) => ok(server.endpoint, v3({ action, form: params })))],
      ['raw V3 form body without x-acs-content-sha256', () => callFlavour((action, params) => ok(server.endpoint, v3({ action, form: params, omitContentSha: true })))],
    ];
    for (const [name, make] of flavours) {
      it(name, async () => {
        const f = make();
        for (const [what, value] of VALUES) {
          const id = await f.create(value);
          assert.equal(await f.description(id), value, `${name}: ${what}`);
          await f.remove(id);
        }
      });
    }
  });

  it('a long unknown parameter and odd unknown parameter names are signed over and ignored', async () => {
    const params: [string, string][] = [
      ['RegionId', REGION],
      ['Unknown', 'z'.repeat(5000)],
      ['Odd Name!*()', 'v'],
      ['Ünïcode.1.Key', 'v'],
    ];
    assert.equal((await ok(server.endpoint, v1({ action: 'DescribeVpcs', params }))).TotalCount, 0);
    assert.equal((await ok(server.endpoint, v3({ action: 'DescribeVpcs', params }))).TotalCount, 0);
    assert.equal((await ok(server.endpoint, v1({ action: 'DescribeVpcs', params, method: 'POST', placement: 'split' }))).TotalCount, 0);
  });

  it('a wrong secret is SignatureDoesNotMatch (403) for every client', async () => {
    const wrong = { ...key, accessKeySecret: key.accessKeySecret + 'x' };
    for (const extra of [{}, { signatureAlgorithm: 'v2' }]) {
      const e = await rejection(() => new VpcClient(server.sdkConfig(wrong, extra)).describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION })));
      assert.equal(e.code, 'SignatureDoesNotMatch');
      assert.equal(e.statusCode, 403);
    }
    const pop = new PopCore({ accessKeyId: key.accessKeyId, accessKeySecret: wrong.accessKeySecret, endpoint: `http://${server.endpoint}`, apiVersion: VPC_VERSION });
    for (const opts of [{}, { method: 'POST' }]) {
      const e = await rejection(() => pop.request('DescribeVpcs', { RegionId: REGION }, opts));
      assert.equal(e.code, 'SignatureDoesNotMatch');
      assert.equal(e.entry.response.statusCode, 403);
    }
    await expectError(v1(describeVpcs, wrong), 403, 'SignatureDoesNotMatch');
    await expectError(v3(describeVpcs, wrong), 403, 'SignatureDoesNotMatch');
  });

  it('an unknown access key is InvalidAccessKeyId.NotFound (404)', async () => {
    const nobody = { accessKeyId: 'LTAInobody', accessKeySecret: 'secret' };
    const e = await rejection(() => new VpcClient(server.sdkConfig({ ...nobody, account: 'x' })).describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION })));
    assert.equal(e.code, 'InvalidAccessKeyId.NotFound');
    assert.equal(e.statusCode, 404);
    await expectError(v1(describeVpcs, nobody), 404, 'InvalidAccessKeyId.NotFound');
    await expectError(v3(describeVpcs, nobody), 404, 'InvalidAccessKeyId.NotFound');
  });

  it('a timestamp more than 15 minutes off is InvalidTimeStamp.Expired; inside the window it is accepted', async () => {
    const now = Date.now();
    for (const skew of [-16 * MINUTE, 16 * MINUTE, -24 * 60 * MINUTE]) {
      const at = new Date(now + skew);
      await expectError(v1({ ...describeVpcs, timestamp: at }), 400, 'InvalidTimeStamp.Expired');
      await expectError(v3({ ...describeVpcs, date: at }), 400, 'InvalidTimeStamp.Expired');
    }
    for (const skew of [-14 * MINUTE, 14 * MINUTE]) {
      const at = new Date(now + skew);
      await ok(server.endpoint, v1({ ...describeVpcs, timestamp: at }));
      await ok(server.endpoint, v3({ ...describeVpcs, date: at }));
    }
  });

  it('a reused nonce is SignatureNonceUsed, for V1 and V3 alike', async () => {
    for (const sign of [(nonce: string) => v1({ ...describeVpcs, nonce }), (nonce: string) => v3({ ...describeVpcs, nonce })]) {
      const nonce = `n-${Math.random()}`;
      await ok(server.endpoint, sign(nonce));
      await expectError(sign(nonce), 400, 'SignatureNonceUsed');
    }
    // A nonce is per access key: another key may use the same one.
    const bob = server.key('sig-bob');
    const nonce = `shared-${Math.random()}`;
    await ok(server.endpoint, v1({ ...describeVpcs, nonce }));
    await ok(server.endpoint, v1({ ...describeVpcs, nonce }, bob));
  });

  it('a reused nonce of a write is SignatureNonceUsed and writes nothing; read and write nonces share one space', async () => {
    const description = `nonce-write-${Math.random()}`;
    const create = (nonce: string) => v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/16', Description: description }, nonce });
    const nonce = `w-${Math.random()}`;
    const created = await ok(server.endpoint, create(nonce));
    await expectError(create(nonce), 400, 'SignatureNonceUsed');
    await expectError(v1({ ...describeVpcs, nonce }), 400, 'SignatureNonceUsed');
    const listed = await ok(server.endpoint, v1({ action: 'DescribeVpcs', params: { RegionId: REGION, PageSize: '50' } }));
    assert.equal(listed.Vpcs.Vpc.filter((v: any) => v.Description === description).length, 1, 'the replay created nothing');
    // A read's nonce cannot be used by a write.
    const readNonce = `r-${Math.random()}`;
    await ok(server.endpoint, v1({ ...describeVpcs, nonce: readNonce }));
    await expectError(create(readNonce), 400, 'SignatureNonceUsed');
    // A write that failed (or was a DryRun) used its nonce too: a replay must not succeed later.
    const badNonce = `f-${Math.random()}`;
    const bad = v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/33' }, nonce: badNonce });
    const failed = await send(server.endpoint, bad);
    assert.equal(failed.status, 400);
    assert.notEqual(failed.json.Code, 'SignatureNonceUsed');
    await expectError(v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/33' }, nonce: badNonce }), 400, 'SignatureNonceUsed');
    const dryNonce = `d-${Math.random()}`;
    await expectError(v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/16', DryRun: 'true' }, nonce: dryNonce }), 400, 'DryRunOperation');
    await expectError(v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/16', DryRun: 'true' }, nonce: dryNonce }), 400, 'SignatureNonceUsed');
    await ok(server.endpoint, v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId } }));
  });

  it('a request that fails its signature does not use up its nonce', async () => {
    const nonce = `n-${Math.random()}`;
    const wrong = { ...key, accessKeySecret: 'wrong' };
    await expectError(v3({ ...describeVpcs, nonce }, wrong), 403, 'SignatureDoesNotMatch');
    await ok(server.endpoint, v3({ ...describeVpcs, nonce }));
  });

  it('a request without a signature is IncompleteSignature', async () => {
    await expectError(v1({ ...describeVpcs, omit: ['Signature'] }), 400, 'IncompleteSignature');
    await expectError(v1({ ...describeVpcs, omit: ['Signature'], method: 'POST', placement: 'form' }), 400, 'IncompleteSignature');
    const bare = { method: 'GET', path: `/?Action=DescribeVpcs&Version=${VPC_VERSION}&RegionId=${REGION}`, headers: { host: server.endpoint }, body: '' };
    await expectError(bare, 400, 'IncompleteSignature');
    const v3Req = v3(describeVpcs);
    delete v3Req.headers.authorization;
    await expectError(v3Req, 400, 'IncompleteSignature');
  });

  it('protocol fields missing from a signed request get their own codes', async () => {
    await expectError(v1({ ...describeVpcs, omit: ['SignatureNonce'] }), 400, 'MissingSignatureNonce');
    await expectError(v1({ ...describeVpcs, omit: ['Timestamp'] }), 400, 'MissingParameter');
    await expectError(v1({ ...describeVpcs, omit: ['AccessKeyId'] }), 400, 'MissingAccessKeyId');
  });

  it('a parameter changed after signing is SignatureDoesNotMatch', async () => {
    // V1 in the query.
    const a = v1({ action: 'DescribeVpcs', params: { RegionId: REGION, PageSize: '10' } });
    await expectError({ ...a, path: a.path.replace('PageSize=10', 'PageSize=11') }, 403, 'SignatureDoesNotMatch');
    // V1 with an extra parameter appended.
    await expectError({ ...a, path: a.path + '&PageNumber=2' }, 403, 'SignatureDoesNotMatch');
    // V1 Terraform split: business parameter in the form body.
    const b = v1({ action: 'DescribeVpcs', params: { RegionId: REGION, PageSize: '10' }, method: 'POST', placement: 'split' });
    await expectError({ ...b, body: b.body.replace('PageSize=10', 'PageSize=11') }, 403, 'SignatureDoesNotMatch');
    // V1 signed as GET, sent as POST.
    await expectError({ ...v1(describeVpcs), method: 'POST' }, 403, 'SignatureDoesNotMatch');
    // V3 query.
    const c = v3({ action: 'DescribeVpcs', params: { RegionId: REGION, PageSize: '10' } });
    await expectError({ ...c, path: c.path.replace('PageSize=10', 'PageSize=11') }, 403, 'SignatureDoesNotMatch');
    // V3 signed header.
    await expectError({ ...c, headers: { ...c.headers, 'x-acs-action': 'DeleteVpc' } }, 403, 'SignatureDoesNotMatch');
    // V3 form body, with and without the declared content hash.
    for (const omitContentSha of [false, true]) {
      const d = v3({ action: 'DescribeVpcs', form: { RegionId: REGION, PageSize: '10' }, omitContentSha });
      await expectError({ ...d, body: d.body.replace('PageSize=10', 'PageSize=11') }, 403, 'SignatureDoesNotMatch');
    }
  });

  it('Terraform style (common parameters in the query, business parameters in a form body) creates what it asks for', async () => {
    const created = await ok(server.endpoint, v1({ action: 'CreateVpc', method: 'POST', placement: 'split', params: { RegionId: REGION, CidrBlock: '192.168.0.0/16', VpcName: 'tf', ClientToken: 'tf-token-1' } }));
    const listed = await ok(server.endpoint, v1({ action: 'DescribeVpcs', params: { RegionId: REGION, VpcId: created.VpcId } }));
    assert.equal(listed.Vpcs.Vpc[0].CidrBlock, '192.168.0.0/16');
    assert.equal(listed.Vpcs.Vpc[0].VpcName, 'tf');
    // The same ClientToken and parameters replay the first answer.
    const again = await ok(server.endpoint, v1({ action: 'CreateVpc', method: 'POST', placement: 'split', params: { RegionId: REGION, CidrBlock: '192.168.0.0/16', VpcName: 'tf', ClientToken: 'tf-token-1' } }));
    assert.equal(again.VpcId, created.VpcId);
    await ok(server.endpoint, v1({ action: 'DeleteVpc', method: 'POST', placement: 'split', params: { RegionId: REGION, VpcId: created.VpcId } }));
  });

  it('V3 with the business parameters in a form body creates what it asks for', async () => {
    const created = await ok(server.endpoint, v3({ action: 'CreateVpc', form: { RegionId: REGION, CidrBlock: '172.16.0.0/16', VpcName: 'v3-form' } }));
    const listed = await ok(server.endpoint, v3({ action: 'DescribeVpcs', form: { RegionId: REGION, VpcId: created.VpcId } }));
    assert.equal(listed.TotalCount, 1);
    assert.equal(listed.Vpcs.Vpc[0].CidrBlock, '172.16.0.0/16');
    assert.equal(listed.Vpcs.Vpc[0].VpcName, 'v3-form');
    await ok(server.endpoint, v3({ action: 'DeleteVpc', form: { RegionId: REGION, VpcId: created.VpcId } }));
  });

  // Last: restarts the shared server.
  it('used nonces stay used across a restart (reads and writes) and a kill -9 (writes)', async () => {
    const readNonce = `rr-${Math.random()}`;
    const writeNonce = `rw-${Math.random()}`;
    const read = () => v1({ ...describeVpcs, nonce: readNonce });
    const write = () => v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.1.0.0/16' }, nonce: writeNonce });
    await ok(server.endpoint, read());
    const created = await ok(server.endpoint, write());
    closeConnections();
    await server.stop();
    await server.restart();
    await expectError(read(), 400, 'SignatureNonceUsed');
    await expectError(write(), 400, 'SignatureNonceUsed');
    const killedNonce = `rk-${Math.random()}`;
    const killedWrite = () => v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId }, nonce: killedNonce });
    await ok(server.endpoint, killedWrite());
    closeConnections();
    await server.stop(true);
    await server.restart();
    await expectError(killedWrite(), 400, 'SignatureNonceUsed');
    await ok(server.endpoint, v1(describeVpcs));
  });
});
