// Request authentication for the two signature schemes the official clients use (see
// reference/alibaba-api.md §4): RPC V1 `HMAC-SHA1` (pop-core, Terraform, SDK with signatureAlgorithm v2)
// and V3 `ACS3-HMAC-SHA256` (the SDK default). Both canonicalise with strict RFC 3986 encoding: the Node
// SDK sends `!*()` raw in the query, so we decode every name and value and encode them again.

import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { ApiError, invalid } from '../core/errors.ts';

export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export interface SignedRequest {
  readonly method: string;
  /** Query pairs, decoded, in wire order. */
  readonly query: readonly (readonly [string, string])[];
  /** Form-body pairs, decoded (empty unless the body is a form). */
  readonly form: readonly (readonly [string, string])[];
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface Credentials {
  readonly accessKeyId: string;
  /** What the signature must be checked against, once the secret is known. */
  verify(secret: string): boolean;
  /** Timestamp the client signed, in ms since the epoch. */
  readonly timestampMs: number;
  readonly nonce: string;
}

const header = (h: SignedRequest['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
};

function parseTime(text: string | undefined, what: string): number {
  if (!text) throw invalid('MissingParameter', `The input parameter "${what}" that is mandatory for processing this request is not supplied.`);
  // yyyy-MM-ddTHH:mm:ssZ (fractions tolerated)
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(text)) throw invalid('InvalidTimeStamp.Format', `Specified time stamp or date value is not well formatted: ${what}.`);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw invalid('InvalidTimeStamp.Format', `Specified time stamp or date value is not well formatted: ${what}.`);
  return ms;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads the credentials a request carries; throws IncompleteSignature when it carries none. */
export function readCredentials(req: SignedRequest): Credentials {
  const authorization = header(req.headers, 'authorization');
  if (authorization?.startsWith('ACS3-')) return readV3(req, authorization);
  const params = new Map<string, string>([...req.query, ...req.form]);
  if (params.has('Signature')) return readV1(req, params);
  throw invalid('IncompleteSignature', 'The request signature does not conform to Aliyun standards: no Authorization header and no Signature parameter.');
}

function readV1(req: SignedRequest, params: Map<string, string>): Credentials {
  const accessKeyId = params.get('AccessKeyId');
  if (!accessKeyId) throw invalid('MissingAccessKeyId', 'AccessKeyId is mandatory for this action.');
  const method = params.get('SignatureMethod');
  if (method !== 'HMAC-SHA1') throw invalid('InvalidSignatureMethod', `Specified signature method "${method ?? ''}" is not supported; use HMAC-SHA1.`);
  const version = params.get('SignatureVersion');
  if (version !== '1.0') throw invalid('InvalidSignatureVersion', `Specified signature version "${version ?? ''}" is not valid; use 1.0.`);
  const nonce = params.get('SignatureNonce');
  if (!nonce) throw invalid('MissingSignatureNonce', 'SignatureNonce is mandatory for this action.');
  const timestampMs = parseTime(params.get('Timestamp'), 'Timestamp');
  // Query and form pairs together, minus Signature, sorted by name in byte order.
  const pairs = [...req.query, ...req.form].filter(([k]) => k !== 'Signature');
  const canonical = pairs
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const stringToSign = `${req.method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonical)}`;
  // A raw '+' in an unencoded Signature may have been decoded to a space on the way.
  const given = params.get('Signature')!.replace(/ /g, '+');
  return {
    accessKeyId,
    timestampMs,
    nonce,
    verify: (secret) => safeEqual(createHmac('sha1', secret + '&').update(stringToSign).digest('base64'), given),
  };
}

/** SHA-256 of no bytes: the payload hash of every request without a body (the SDK's default). */
const EMPTY_SHA256 = hash('sha256', '', 'hex');

const V3_AUTH = /^ACS3-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]*)\s*,\s*Signature=([0-9a-fA-F]+)\s*$/;

function readV3(req: SignedRequest, authorization: string): Credentials {
  const m = V3_AUTH.exec(authorization);
  if (!m) {
    if (!authorization.startsWith('ACS3-HMAC-SHA256 '))
      throw invalid('InvalidSignatureMethod', 'Only the ACS3-HMAC-SHA256 signature algorithm is supported.');
    throw invalid('IncompleteSignature', 'The Authorization header is malformed.');
  }
  const [, accessKeyId, signedHeadersText, signature] = m;
  const signedHeaders = signedHeadersText.split(';').filter(Boolean);
  for (const required of ['host', 'x-acs-date', 'x-acs-signature-nonce'])
    if (!signedHeaders.includes(required)) throw invalid('IncompleteSignature', `The header "${required}" must be signed.`);
  // These pick the action the request runs: unsigned, they could be changed on the way.
  for (const selecting of ['x-acs-action', 'x-acs-version'])
    if (header(req.headers, selecting) !== undefined && !signedHeaders.includes(selecting))
      throw invalid('IncompleteSignature', `The header "${selecting}" must be signed.`);
  const nonce = header(req.headers, 'x-acs-signature-nonce');
  if (!nonce) throw invalid('MissingSignatureNonce', 'x-acs-signature-nonce is mandatory.');
  const timestampMs = parseTime(header(req.headers, 'x-acs-date'), 'x-acs-date');
  const canonicalQuery = req.query
    .map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = [...signedHeaders]
    .sort()
    .map((h) => `${h}:${(header(req.headers, h) ?? '').trim()}\n`)
    .join('');
  // The payload hash is computed, not trusted: the signature then binds the body we parse.
  const payloadHash = req.body.length === 0 ? EMPTY_SHA256 : hash('sha256', req.body, 'hex');
  const claimed = header(req.headers, 'x-acs-content-sha256');
  if (claimed !== undefined && claimed.toLowerCase() !== payloadHash)
    throw new ApiError('Unauthenticated', 'SignatureDoesNotMatch', 'x-acs-content-sha256 does not match the request body.', 403);
  const canonicalRequest = [req.method.toUpperCase(), '/', canonicalQuery, canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
  const stringToSign = 'ACS3-HMAC-SHA256\n' + hash('sha256', canonicalRequest, 'hex');
  return {
    accessKeyId,
    timestampMs,
    nonce,
    verify: (secret) => safeEqual(createHmac('sha256', secret).update(stringToSign).digest('hex'), signature.toLowerCase()),
  };
}
