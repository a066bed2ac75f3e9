// The RPC wire protocol of `eci server`: dispatch (action and version from headers or parameters),
// the error envelope, HTTP methods and paths, body limits, DryRun and ClientToken.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PRODUCTS, type Product } from '../../src/api/action.ts';
import { ALL_ACTIONS, UNSUPPORTED } from '../../src/api/actions/index.ts';
import { $Vpc, PopCore, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestKey, type TestServer } from '../helpers/server.ts';
import { closeConnections, send, signV1, signV3, type RawRequest, type RawResponse, type V1Options, type V3Options } from '../helpers/sign.ts';

const REGION = 'cn-hangzhou';
const VPC = PRODUCTS.vpc.version;
const ENVELOPE = ['Code', 'HostId', 'Message', 'Recommend', 'RequestId'];
const REQUEST_ID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

function assertEnvelope(r: RawResponse, status: number, code: string): void {
  assert.equal(r.json?.Code, code, `expected ${status} ${code}, got ${r.status} ${r.text.slice(0, 400)}`);
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ENVELOPE);
  for (const k of ENVELOPE) assert.equal(typeof r.json[k], 'string', k);
  assert.ok(r.json.Message.length > 0);
  assert.match(r.headers['content-type'] as string, /^application\/json/);
}

function assertSuccess(r: RawResponse): any {
  assert.equal(r.status, 200, r.text.slice(0, 400));
  assert.equal(r.json.Code, undefined, 'a success body never carries Code');
  assert.match(r.json.RequestId, REQUEST_ID);
  return r.json;
}

/** Writes raw bytes on a fresh connection and returns everything the server sends back until it closes. */
function rawExchange(endpoint: string, bytes: string | Buffer): Promise<string> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), host, () => socket.write(bytes));
    socket.on('data', (c) => chunks.push(c));
    // The server may close while a large request is still being written: what it answered counts.
    socket.on('error', (e) => (chunks.length ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(e)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  });
}

function parseRaw(text: string): { status: number; json: any } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, json: JSON.parse(body) };
}

describe('wire protocol', () => {
  let server: TestServer;
  let key: TestKey;
  const v1 = (o: Omit<V1Options, 'version'> & { version?: string }) => signV1(key, { version: VPC, host: server.endpoint, ...o });
  const v3 = (o: Omit<V3Options, 'version'> & { version?: string }) => signV3(key, { version: VPC, host: server.endpoint, ...o });
  const go = (req: RawRequest) => send(server.endpoint, req);
  const countVpcs = async () => assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION } }))).TotalCount as number;

  before(async () => {
    server = await startServer();
    key = server.key('proto-alice');
  });
  after(async () => {
    closeConnections();
    await server.close();
  });

  describe('dispatch', () => {
    it('takes action and version from the x-acs-* headers (V3) or from the Action/Version parameters (V1, V3)', async () => {
      const fromHeaders = assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION } })));
      assert.equal(typeof fromHeaders.TotalCount, 'number');
      const v3Query = assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION }, actionInQuery: true })));
      assert.equal(typeof v3Query.TotalCount, 'number');
      const v1Params = assertSuccess(await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION } })));
      assert.equal(typeof v1Params.TotalCount, 'number');
      const regions = assertSuccess(await go(v3({ action: 'DescribeRegions', version: PRODUCTS.eci.version })));
      assert.ok(Array.isArray(regions.Regions), regions);
    });

    it('under V1 the unsigned x-acs-action header cannot change the signed Action', async () => {
      const created = assertSuccess(await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/16' } })));
      const req = v1({ action: 'DescribeVpcs', params: { RegionId: REGION, VpcId: created.VpcId } });
      req.headers['x-acs-action'] = 'DeleteVpc';
      req.headers['x-acs-version'] = '2099-01-01';
      const r = assertSuccess(await go(req));
      assert.equal(r.TotalCount, 1, 'DescribeVpcs ran, not DeleteVpc');
      assert.equal(r.Vpcs.Vpc[0].VpcId, created.VpcId);
      assertSuccess(await go(v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId } })));
    });

    it('under V3 an x-acs-action or x-acs-version header left out of SignedHeaders is IncompleteSignature', async () => {
      const a = v3({ action: 'DescribeVpcs', params: { RegionId: REGION }, actionInQuery: true, unsigned: { 'x-acs-action': 'DeleteVpc' } });
      assertEnvelope(await go(a), 400, 'IncompleteSignature');
      const b = v3({ action: 'DescribeVpcs', params: { RegionId: REGION }, actionInQuery: true, unsigned: { 'x-acs-version': VPC } });
      assertEnvelope(await go(b), 400, 'IncompleteSignature');
    });

    it('an unknown action is InvalidAction.NotFound (404), whatever the signature', async () => {
      for (const req of [v1({ action: 'FlyToTheMoon' }), v3({ action: 'FlyToTheMoon' }), v3({ action: 'describevpcs' })]) {
        assertEnvelope(await go(req), 404, 'InvalidAction.NotFound');
      }
      const pop = new PopCore({ accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, endpoint: `http://${server.endpoint}`, apiVersion: VPC });
      const e = await rejection(() => pop.request('FlyToTheMoon', {}));
      assert.equal(e.code, 'InvalidAction.NotFound');
      assert.equal(e.entry.response.statusCode, 404);
    });

    it('an action of another product\'s version is InvalidAction.NotFound', async () => {
      assertEnvelope(await go(v3({ action: 'DescribeVpcs', version: PRODUCTS.eci.version, params: { RegionId: REGION } })), 404, 'InvalidAction.NotFound');
    });

    it('an unknown version is InvalidVersion', async () => {
      for (const version of ['2099-01-01', 'x', '2016-4-28']) {
        assertEnvelope(await go(v3({ action: 'DescribeVpcs', version, params: { RegionId: REGION } })), 400, 'InvalidVersion');
        assertEnvelope(await go(v1({ action: 'DescribeVpcs', version, params: { RegionId: REGION } })), 400, 'InvalidVersion');
      }
      // A parameter keeps its spaces (a header value would be trimmed by HTTP itself).
      assertEnvelope(await go(v1({ action: 'DescribeVpcs', version: VPC + ' ', params: { RegionId: REGION } })), 400, 'InvalidVersion');
    });

    it('a missing Action or Version is MissingParameter', async () => {
      assertEnvelope(await go(v1({ action: 'DescribeVpcs', omit: ['Action'] })), 400, 'MissingParameter');
      assertEnvelope(await go(v1({ action: 'DescribeVpcs', omit: ['Version'] })), 400, 'MissingParameter');
    });

    it('every reference action OpenECI does not implement answers UnsupportedOperation naming it', async () => {
      const implemented = new Set(ALL_ACTIONS.map((a) => `${a.product}/${a.name}`));
      let checked = 0;
      for (const [product, names] of Object.entries(UNSUPPORTED) as [Product, readonly string[]][]) {
        for (const name of names) {
          assert.ok(!implemented.has(`${product}/${name}`), `${product}/${name} is implemented but still listed as unsupported`);
          const r = await go(v3({ action: name, version: PRODUCTS[product].version, params: { RegionId: REGION } }));
          assertEnvelope(r, 400, 'UnsupportedOperation');
          assert.match(r.json.Message, new RegExp(`\\b${name}\\b.*not implemented`));
          checked++;
        }
      }
      assert.ok(checked > 10);
    });

    it('an unknown RegionId is InvalidRegionId.NotFound', async () => {
      assertEnvelope(await go(v3({ action: 'DescribeVpcs', params: { RegionId: 'mars-north-1' } })), 404, 'InvalidRegionId.NotFound');
    });
  });

  describe('envelope', () => {
    it('has exactly RequestId, HostId, Code, Message, Recommend, with a fresh RequestId each time', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const r = await go(v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: 'vpc-doesnotexist' } }));
        assertEnvelope(r, 404, 'InvalidVpcId.NotFound');
        assert.match(r.json.RequestId, REQUEST_ID);
        seen.add(r.json.RequestId);
      }
      assert.equal(seen.size, 5);
    });

    it('the SDK surfaces code, status and message from it', async () => {
      const vpc = new VpcClient(server.sdkConfig(key));
      const e = await rejection(() => vpc.deleteVpc(new $Vpc.DeleteVpcRequest({ regionId: REGION, vpcId: 'vpc-doesnotexist' })));
      assert.equal(e.code, 'InvalidVpcId.NotFound');
      assert.equal(e.statusCode, 404);
      assert.ok(e.data.Message.length > 0);
      assert.match(e.data.RequestId, REQUEST_ID);
    });

    it('success bodies carry RequestId and never Code, for reads and writes, V1 and V3', async () => {
      const created = assertSuccess(await go(v1({ action: 'CreateVpc', params: { RegionId: REGION } })));
      assertSuccess(await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION } })));
      assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION, VpcId: created.VpcId } })));
      assertSuccess(await go(v3({ action: 'DescribeRegions', version: PRODUCTS.eci.version })));
      assertSuccess(await go(v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId } })));
    });

    it('a malformed percent-encoding is a 400 InvalidParameter, not a crash', async () => {
      const req = v1({ action: 'DescribeVpcs', params: { RegionId: REGION } });
      assertEnvelope(await go({ ...req, path: req.path + '&VpcName=%ZZ' }), 400, 'InvalidParameter');
      assertEnvelope(await go({ ...req, path: req.path + '&%E0%A4%A=1' }), 400, 'InvalidParameter');
      const form = v1({ action: 'DescribeVpcs', params: { RegionId: REGION }, method: 'POST', placement: 'split' });
      assertEnvelope(await go({ ...form, body: form.body + '&VpcName=%' }), 400, 'InvalidParameter');
    });
  });

  describe('parameters', () => {
    it('unknown parameters are ignored', async () => {
      const r = assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION, NoSuchThing: 'x', 'Foo.1.Bar': 'y', PageSizee: '9' } })));
      assert.equal(typeof r.TotalCount, 'number');
      const created = assertSuccess(await go(v1({ action: 'CreateVpc', params: { RegionId: REGION, Flavour: 'vanilla', 'Tag.1.Key': 'k', 'Tag.1.Colour': 'x' } })));
      assertSuccess(await go(v1({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId } })));
    });

    it('duplicate keys: the signature covers both, the last one wins', async () => {
      const created = assertSuccess(await go(v1({ action: 'CreateVpc', params: [['RegionId', REGION], ['VpcName', 'first'], ['VpcName', 'second']] })));
      const listed = assertSuccess(await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION, VpcId: created.VpcId } })));
      assert.equal(listed.Vpcs.Vpc[0].VpcName, 'second');
      assertSuccess(await go(v1({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId } })));
    });
  });

  describe('HTTP', () => {
    it('GET and POST both work, with V1 and V3', async () => {
      for (const method of ['GET', 'POST']) {
        assertSuccess(await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION }, method })));
        assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION }, method })));
      }
    });

    it('other methods are a 4xx envelope', async () => {
      for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        const r = await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION }, method }));
        assertEnvelope(r, 400, 'UnsupportedHTTPMethod');
      }
      const head = await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION }, method: 'HEAD' }));
      assert.equal(head.status, 400);
    });

    it('a path other than / is 404', async () => {
      for (const path of ['/x', '/api/', '//', '/index.html', '/%2F']) {
        const req = v3({ action: 'DescribeVpcs', params: { RegionId: REGION } });
        const q = req.path.indexOf('?');
        assertEnvelope(await go({ ...req, path: path + req.path.slice(q) }), 404, 'InvalidAction.NotFound');
      }
    });

    it('a body over the limit is 413, and the server keeps serving', async () => {
      const req = v1({ action: 'DescribeVpcs', params: { RegionId: REGION }, method: 'POST', placement: 'split' });
      const r = await go({ ...req, body: req.body + '&Pad=' + 'x'.repeat(9 * 1024 * 1024) });
      assert.equal(r.status, 413, r.text.slice(0, 200));
      assert.equal(r.json.Code, 'RequestTooLarge');
      assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION } })));
    });

    it('the SDK\'s query-string parameters may be far larger than Node\'s default 16 KiB header limit', async () => {
      const vpc = new VpcClient(server.sdkConfig(key));
      const e = await rejection(() => vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, description: 'd'.repeat(64 * 1024) })));
      assert.equal(e.code, 'InvalidDescription.Malformed');
      assert.equal(e.statusCode, 400);
      const r = await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION, Pad: 'p'.repeat(100 * 1024) } }));
      assertSuccess(r);
    });

    it('a request line beyond the limit, and bytes that are not HTTP, get an envelope too', async () => {
      const huge = await rawExchange(server.endpoint, `GET /?Pad=${'x'.repeat(9 * 1024 * 1024)} HTTP/1.1\r\nhost: x\r\n\r\n`);
      const a = parseRaw(huge);
      assert.equal(a.status, 431);
      assert.equal(a.json.Code, 'RequestHeaderFieldsTooLarge');
      for (const garbage of ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', 'GET / HTTP/9.9 junk\r\n\r\n', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n']) {
        const r = parseRaw(await rawExchange(server.endpoint, garbage));
        assert.equal(r.status, 400, JSON.stringify(garbage));
        assert.deepEqual(Object.keys(r.json).sort(), ENVELOPE);
        assert.equal(r.json.Code, 'MalformedRequest');
      }
      assertSuccess(await go(v3({ action: 'DescribeVpcs', params: { RegionId: REGION } })));
    });

    it('a body just under the limit is read and verified', async () => {
      const big = 'y'.repeat(1024 * 1024);
      const r = await go(v1({ action: 'DescribeVpcs', params: { RegionId: REGION, Pad: big }, method: 'POST', placement: 'split' }));
      assertSuccess(r);
    });
  });

  describe('DryRun', () => {
    it('checks a create, answers DryRunOperation and writes nothing', async () => {
      const before = await countVpcs();
      for (const flag of ['true', 'True', 'TRUE']) {
        const r = await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '10.0.0.0/8', DryRun: flag } }));
        assertEnvelope(r, 400, 'DryRunOperation');
      }
      assert.equal(await countVpcs(), before);
    });

    it('still reports what is wrong with the request', async () => {
      assertEnvelope(await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, CidrBlock: '8.8.8.0/24', DryRun: 'true' } })), 400, 'InvalidCidrBlock.Malformed');
      assertEnvelope(await go(v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: 'vpc-none', DryRun: 'true' } })), 404, 'InvalidVpcId.NotFound');
    });

    it('DryRun=false runs the action', async () => {
      const before = await countVpcs();
      const created = assertSuccess(await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, DryRun: 'false' } })));
      assert.equal(await countVpcs(), before + 1);
      assertSuccess(await go(v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: created.VpcId } })));
    });
  });

  describe('ClientToken', () => {
    it('longer than 64 characters or not printable ASCII is InvalidClientToken.Malformed', async () => {
      for (const token of ['t'.repeat(65), 'tökén', 'a\nb']) {
        assertEnvelope(await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, ClientToken: token } })), 400, 'InvalidClientToken.Malformed');
      }
    });

    it('64 characters replay the first answer; other parameters with it are IdempotentParameterMismatch', async () => {
      const token = 'k'.repeat(64);
      const first = assertSuccess(await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, VpcName: 'idem', ClientToken: token } })));
      const again = assertSuccess(await go(v1({ action: 'CreateVpc', params: { RegionId: REGION, VpcName: 'idem', ClientToken: token } })));
      assert.equal(again.VpcId, first.VpcId);
      assert.notEqual(again.RequestId, first.RequestId);
      const other = await go(v3({ action: 'CreateVpc', params: { RegionId: REGION, VpcName: 'other', ClientToken: token } }));
      assertEnvelope(other, 400, 'IdempotentParameterMismatch');
      assertSuccess(await go(v3({ action: 'DeleteVpc', params: { RegionId: REGION, VpcId: first.VpcId } })));
    });
  });
});
