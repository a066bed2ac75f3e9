// The worked examples of reference/alibaba-api.md §4, checked against the server's verifier
// (src/api/signature.ts) and against the tests' own signer (test/helpers/sign.ts), so both are pinned
// to the documented values and a regression in either fails here first.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/core/errors.ts';
import { percentEncode, readCredentials, type SignedRequest } from '../../src/api/signature.ts';
import { EMPTY_SHA256, rfc3986, v1Signature, v1StringToSign, v3CanonicalRequest, v3Signature, type Pairs } from '../helpers/sign.ts';

const V1_PARAMS: Pairs = [
  ['AccessKeyId', 'testid'],
  ['Action', 'DescribeRegions'],
  ['Format', 'XML'],
  ['SignatureMethod', 'HMAC-SHA1'],
  ['SignatureNonce', '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf'],
  ['SignatureVersion', '1.0'],
  ['Timestamp', '2016-02-23T12:46:24Z'],
  ['Version', '2014-05-26'],
];
const V1_STRING_TO_SIGN =
  'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26';
const V1_GET = 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=';
const V1_POST = 'MxbnVAM4w6sft9xjVpe/GCKueuk=';

const V3_QUERY: Pairs = [
  ['ImageId', 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd'],
  ['RegionId', 'cn-shanghai'],
];
const V3_HEADERS: Record<string, string> = {
  host: 'ecs.cn-shanghai.aliyuncs.com',
  'x-acs-action': 'RunInstances',
  'x-acs-content-sha256': EMPTY_SHA256,
  'x-acs-date': '2023-10-26T10:22:32Z',
  'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
  'x-acs-version': '2014-05-26',
};
const V3_SIGNED = Object.keys(V3_HEADERS).sort();
const V3_HASHED = '7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259';
const V3_SIGNATURE = '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0';

function v1Request(method: string, signature: string, extra: Partial<SignedRequest> = {}): SignedRequest {
  return { method, query: [...V1_PARAMS, ['Signature', signature]], form: [], headers: {}, body: Buffer.alloc(0), ...extra };
}

function v3Request(signature: string, over: { headers?: Record<string, string>; query?: Pairs; body?: Buffer } = {}): SignedRequest {
  const headers = {
    ...V3_HEADERS,
    authorization: `ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=${V3_SIGNED.join(';')},Signature=${signature}`,
    ...over.headers,
  };
  return { method: 'POST', query: over.query ?? V3_QUERY, form: [], headers, body: over.body ?? Buffer.alloc(0) };
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected an error');
}

describe('percent-encoding (RFC 3986)', () => {
  const cases: [string, string][] = [
    ['a b', 'a%20b'],
    ["!*'()", '%21%2A%27%28%29'],
    ['~-_.', '~-_.'],
    ['+&=%', '%2B%26%3D%25'],
    ['/:', '%2F%3A'],
    ['é', '%C3%A9'],
    ['😀', '%F0%9F%98%80'],
    ['\n', '%0A'],
  ];
  for (const [raw, encoded] of cases) {
    it(`encodes ${JSON.stringify(raw)} as ${encoded}`, () => {
      assert.equal(percentEncode(raw), encoded);
      assert.equal(rfc3986(raw), encoded);
    });
  }
});

describe('signature V1 (HMAC-SHA1), documented example', () => {
  it('the test signer builds the documented string to sign and signatures', () => {
    assert.equal(v1StringToSign('GET', V1_PARAMS), V1_STRING_TO_SIGN);
    assert.equal(v1Signature('testsecret', v1StringToSign('GET', V1_PARAMS)), V1_GET);
    assert.equal(v1Signature('testsecret', v1StringToSign('POST', V1_PARAMS)), V1_POST);
    // Order of the pairs on the wire does not matter: they are sorted.
    assert.equal(v1Signature('testsecret', v1StringToSign('GET', [...V1_PARAMS].reverse())), V1_GET);
  });

  it('the server verifies the GET example', () => {
    const c = readCredentials(v1Request('GET', V1_GET));
    assert.equal(c.accessKeyId, 'testid');
    assert.equal(c.nonce, '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf');
    assert.equal(c.timestampMs, Date.UTC(2016, 1, 23, 12, 46, 24));
    assert.equal(c.verify('testsecret'), true);
    assert.equal(c.verify('wrongsecret'), false);
  });

  it('the server verifies the POST example, and the method is part of the signature', () => {
    assert.equal(readCredentials(v1Request('POST', V1_POST)).verify('testsecret'), true);
    assert.equal(readCredentials(v1Request('POST', V1_GET)).verify('testsecret'), false);
    assert.equal(readCredentials(v1Request('GET', V1_POST)).verify('testsecret'), false);
  });

  it('accepts the signature with its "+" decoded to a space (an unencoded Signature in a query)', () => {
    assert.equal(readCredentials(v1Request('GET', V1_GET.replace('+', ' '))).verify('testsecret'), true);
  });

  it('covers form-body pairs as well as query pairs (pop-core POST, Terraform)', () => {
    const query = V1_PARAMS.filter(([k]) => k !== 'Format');
    const form: Pairs = [['Format', 'XML'], ['Signature', V1_POST]];
    const c = readCredentials({ method: 'POST', query, form, headers: {}, body: Buffer.alloc(0) });
    assert.equal(c.verify('testsecret'), true);
  });

  it('a changed parameter value breaks the signature', () => {
    const query: Pairs = V1_PARAMS.map(([k, v]) => [k, k === 'Format' ? 'JSON' : v]);
    assert.equal(readCredentials({ ...v1Request('GET', V1_GET), query: [...query, ['Signature', V1_GET]] }).verify('testsecret'), false);
  });

  it('an added parameter breaks the signature', () => {
    const req = v1Request('GET', V1_GET);
    assert.equal(readCredentials({ ...req, query: [...req.query, ['RegionId', 'cn-hangzhou']] }).verify('testsecret'), false);
  });

  it('rejects missing or wrong protocol fields with their codes', () => {
    const without = (name: string) => ({ ...v1Request('GET', V1_GET), query: [...V1_PARAMS.filter(([k]) => k !== name), ['Signature', V1_GET]] as Pairs });
    assert.equal(errorCode(() => readCredentials({ ...v1Request('GET', V1_GET), query: V1_PARAMS })), 'IncompleteSignature');
    assert.equal(errorCode(() => readCredentials(without('AccessKeyId'))), 'MissingAccessKeyId');
    assert.equal(errorCode(() => readCredentials(without('SignatureNonce'))), 'MissingSignatureNonce');
    assert.equal(errorCode(() => readCredentials(without('Timestamp'))), 'MissingParameter');
    assert.equal(errorCode(() => readCredentials(without('SignatureMethod'))), 'InvalidSignatureMethod');
    assert.equal(errorCode(() => readCredentials(without('SignatureVersion'))), 'InvalidSignatureVersion');
    const badTime: Pairs = V1_PARAMS.map(([k, v]) => [k, k === 'Timestamp' ? '2016-02-23 12:46:24' : v]);
    assert.equal(errorCode(() => readCredentials({ ...v1Request('GET', V1_GET), query: [...badTime, ['Signature', V1_GET]] })), 'InvalidTimeStamp.Format');
  });
});

describe('signature V3 (ACS3-HMAC-SHA256), documented example', () => {
  it('the test signer builds the documented canonical request hash and signature', () => {
    const canonical = v3CanonicalRequest('POST', V3_QUERY, V3_HEADERS, V3_SIGNED, EMPTY_SHA256);
    const { hashedCanonicalRequest, signature } = v3Signature('YourAccessKeySecret', canonical);
    assert.equal(hashedCanonicalRequest, V3_HASHED);
    assert.equal(signature, V3_SIGNATURE);
  });

  it('the server verifies the example', () => {
    const c = readCredentials(v3Request(V3_SIGNATURE));
    assert.equal(c.accessKeyId, 'YourAccessKeyId');
    assert.equal(c.nonce, '3156853299f313e23d1673dc12e1703d');
    assert.equal(c.timestampMs, Date.UTC(2023, 9, 26, 10, 22, 32));
    assert.equal(c.verify('YourAccessKeySecret'), true);
    assert.equal(c.verify('NotTheSecret'), false);
    // Hex case of the signature is not significant.
    assert.equal(readCredentials(v3Request(V3_SIGNATURE.toUpperCase())).verify('YourAccessKeySecret'), true);
  });

  it('the server hashes the body itself when x-acs-content-sha256 is absent', () => {
    const headers = { ...v3Request(V3_SIGNATURE).headers } as Record<string, string>;
    delete headers['x-acs-content-sha256'];
    const signed = V3_SIGNED.filter((h) => h !== 'x-acs-content-sha256');
    const { signature } = v3Signature('YourAccessKeySecret', v3CanonicalRequest('POST', V3_QUERY, V3_HEADERS, signed, EMPTY_SHA256));
    headers.authorization = `ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=${signed.join(';')},Signature=${signature}`;
    const c = readCredentials({ method: 'POST', query: V3_QUERY, form: [], headers, body: Buffer.alloc(0) });
    assert.equal(c.verify('YourAccessKeySecret'), true);
  });

  it('a changed query value, signed header, method or body breaks the signature', () => {
    const q: Pairs = [['ImageId', 'other'], ['RegionId', 'cn-shanghai']];
    assert.equal(readCredentials(v3Request(V3_SIGNATURE, { query: q })).verify('YourAccessKeySecret'), false);
    assert.equal(readCredentials(v3Request(V3_SIGNATURE, { headers: { 'x-acs-action': 'DeleteInstance' } })).verify('YourAccessKeySecret'), false);
    assert.equal(readCredentials({ ...v3Request(V3_SIGNATURE), method: 'GET' }).verify('YourAccessKeySecret'), false);
    // A body that does not hash to the declared x-acs-content-sha256 is refused before any secret is known.
    assert.equal(errorCode(() => readCredentials(v3Request(V3_SIGNATURE, { body: Buffer.from('a=1') }))), 'SignatureDoesNotMatch');
  });

  it('refuses an Authorization header that leaves host, x-acs-date or the nonce unsigned', () => {
    for (const missing of ['host', 'x-acs-date', 'x-acs-signature-nonce']) {
      const signed = V3_SIGNED.filter((h) => h !== missing).join(';');
      const req = v3Request(V3_SIGNATURE, { headers: { authorization: `ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=${signed},Signature=${V3_SIGNATURE}` } });
      assert.equal(errorCode(() => readCredentials(req)), 'IncompleteSignature', missing);
    }
  });

  it('refuses other algorithms and malformed headers', () => {
    const auth = (a: string) => v3Request(V3_SIGNATURE, { headers: { authorization: a } });
    assert.equal(errorCode(() => readCredentials(auth(`ACS3-HMAC-SM3 Credential=x,SignedHeaders=host,Signature=00`))), 'InvalidSignatureMethod');
    assert.equal(errorCode(() => readCredentials(auth('ACS3-HMAC-SHA256 garbage'))), 'IncompleteSignature');
    assert.equal(errorCode(() => readCredentials(auth('ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host;x-acs-date;x-acs-signature-nonce,Signature=zz'))), 'IncompleteSignature');
    assert.equal(errorCode(() => readCredentials(v3Request(V3_SIGNATURE, { headers: { 'x-acs-date': '26/10/2023' } }))), 'InvalidTimeStamp.Format');
  });
});
