// A small, independent signer for raw OpenAPI requests (reference/alibaba-api.md §4), so tests can
// build what the official SDKs never send: a stale timestamp, a reused nonce, a tampered body,
// duplicate keys, Terraform's split of common params (query) and business params (form body).
// It deliberately shares no code with src/api/signature.ts: the tests check the server against it.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';

export interface SigningKey {
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
}

/** A request ready to put on the wire; `path` is `/` plus the query string, exactly as sent. */
export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export type Pairs = [string, string][];

/** RFC 3986 percent-encoding of UTF-8: only A-Z a-z 0-9 - _ . ~ stay as they are. */
export function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** `k=v&…` in the given order, each side RFC 3986 encoded. */
export function encodePairs(pairs: Pairs): string {
  return pairs.map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&');
}

// By encoded name only, and stable: duplicate names keep their wire order, so moving one of two
// duplicates (which decides the value the server uses) changes what is signed.
const byName = (a: readonly [string, string], b: readonly [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const toPairs = (p: Pairs | Record<string, string>): Pairs => (Array.isArray(p) ? p.map(([k, v]) => [k, v]) : Object.entries(p));

// ---------------------------------------------------------------------------------------------------
// V1: HMAC-SHA1 over all query and form pairs.

/** The V1 string to sign: METHOD&%2F&percentEncode(sorted canonical query). */
export function v1StringToSign(method: string, pairs: Pairs): string {
  const canonical = pairs
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as [string, string])
    .sort(byName)
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return `${method.toUpperCase()}&${rfc3986('/')}&${rfc3986(canonical)}`;
}

export function v1Signature(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret + '&').update(stringToSign).digest('base64');
}

export interface V1Options {
  action: string;
  version: string;
  /** Business parameters (duplicates allowed). */
  params?: Pairs | Record<string, string>;
  method?: 'GET' | 'POST' | string;
  /**
   * Where the pairs go: `query` (GET, and the SDK's POST), `form` (pop-core's POST: everything in the
   * body), `split` (Terraform: common parameters in the query, business parameters in the form body).
   */
  placement?: 'query' | 'form' | 'split';
  timestamp?: Date;
  nonce?: string;
  /** Common parameters to leave out (to provoke IncompleteSignature, MissingParameter…). */
  omit?: readonly string[];
  host?: string;
}

export function signV1(key: SigningKey, o: V1Options): RawRequest {
  const method = (o.method ?? 'GET').toUpperCase();
  const placement = o.placement ?? 'query';
  const common: Pairs = [
    ['Action', o.action],
    ['Version', o.version],
    ['Format', 'JSON'],
    ['AccessKeyId', key.accessKeyId],
    ['SignatureMethod', 'HMAC-SHA1'],
    ['SignatureVersion', '1.0'],
    ['SignatureNonce', o.nonce ?? randomBytes(16).toString('hex')],
    ['Timestamp', isoSeconds(o.timestamp ?? new Date())],
  ].filter(([k]) => !o.omit?.includes(k)) as Pairs;
  const business = toPairs(o.params ?? {});
  const signature = v1Signature(key.accessKeySecret, v1StringToSign(method, [...common, ...business]));
  const withSig: Pairs = o.omit?.includes('Signature') ? [] : [['Signature', signature]];
  const headers: Record<string, string> = { host: o.host ?? 'localhost' };
  let query: Pairs;
  let form: Pairs;
  if (placement === 'query') [query, form] = [[...common, ...business, ...withSig], []];
  else if (placement === 'form') [query, form] = [[], [...common, ...business, ...withSig]];
  else [query, form] = [[...common, ...withSig], business];
  const body = form.length ? encodePairs(form) : '';
  if (method === 'POST' && (placement !== 'query' || body)) headers['content-type'] = 'application/x-www-form-urlencoded';
  return { method, path: '/' + (query.length ? '?' + encodePairs(query) : ''), headers, body };
}

// ---------------------------------------------------------------------------------------------------
// V3: ACS3-HMAC-SHA256 over a canonical request.

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export function v3CanonicalRequest(method: string, query: Pairs, headers: Record<string, string>, signedHeaders: readonly string[], payloadHash: string): string {
  const canonicalQuery = query
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as [string, string])
    .sort(byName)
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = [...signedHeaders].sort();
  const canonicalHeaders = names.map((h) => `${h}:${(headers[h] ?? '').trim()}\n`).join('');
  return [method.toUpperCase(), '/', canonicalQuery, canonicalHeaders, names.join(';'), payloadHash].join('\n');
}

export function v3Signature(secret: string, canonicalRequest: string): { hashedCanonicalRequest: string; signature: string } {
  const hashedCanonicalRequest = createHash('sha256').update(canonicalRequest).digest('hex');
  const signature = createHmac('sha256', secret).update('ACS3-HMAC-SHA256\n' + hashedCanonicalRequest).digest('hex');
  return { hashedCanonicalRequest, signature };
}

export interface V3Options {
  action: string;
  version: string;
  /** Query parameters (the SDK's placement of business parameters). */
  params?: Pairs | Record<string, string>;
  /** A form body (`application/x-www-form-urlencoded`), signed through its SHA-256. */
  form?: Pairs | Record<string, string>;
  method?: string;
  date?: Date;
  nonce?: string;
  host?: string;
  /** Leave out x-acs-content-sha256 (the server then hashes the body itself). */
  omitContentSha?: boolean;
  /** Send Action and Version as query parameters instead of x-acs-action/x-acs-version headers. */
  actionInQuery?: boolean;
  /** Headers sent but left out of SignedHeaders. */
  unsigned?: Record<string, string>;
}

export function signV3(key: SigningKey, o: V3Options): RawRequest {
  const method = (o.method ?? 'POST').toUpperCase();
  const query = toPairs(o.params ?? {});
  if (o.actionInQuery) query.push(['Action', o.action], ['Version', o.version]);
  const body = o.form ? encodePairs(toPairs(o.form)) : '';
  const payloadHash = createHash('sha256').update(body).digest('hex');
  const headers: Record<string, string> = {
    host: o.host ?? 'localhost',
    ...(o.actionInQuery ? {} : { 'x-acs-action': o.action, 'x-acs-version': o.version }),
    'x-acs-date': isoSeconds(o.date ?? new Date()),
    'x-acs-signature-nonce': o.nonce ?? randomBytes(16).toString('hex'),
  };
  if (!o.omitContentSha) headers['x-acs-content-sha256'] = payloadHash;
  if (o.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const signed = Object.keys(headers).sort();
  const { signature } = v3Signature(key.accessKeySecret, v3CanonicalRequest(method, query, headers, signed, payloadHash));
  headers.authorization = `ACS3-HMAC-SHA256 Credential=${key.accessKeyId},SignedHeaders=${signed.join(';')},Signature=${signature}`;
  Object.assign(headers, o.unsigned);
  return { method, path: '/' + (query.length ? '?' + encodePairs(query) : ''), headers, body };
}

// ---------------------------------------------------------------------------------------------------
// Sending.

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: any;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** Sends a raw request to `host:port`; `host` headers are rewritten to the endpoint unless set otherwise. */
export function send(endpoint: string, req: RawRequest): Promise<RawResponse> {
  const [host, port] = endpoint.split(':');
  const headers = { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
  return new Promise((resolve, reject) => {
    const r = request({ host, port: Number(port), method: req.method, path: req.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Closes the keep-alive sockets so a test process can exit. */
export function closeConnections(): void {
  agent.destroy();
}
