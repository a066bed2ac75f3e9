// A client for the OCI distribution API v2 over node:http/node:https: manifests and blobs, the registry's
// auth challenges, redirects, TLS modes, and the classification of every failure into ImagePullError.
//
// Contracts:
// - One `request` is ONE attempt (plus the auth round-trip a challenge asks for, plus redirects); callers
//   retry with `withRetry`, which retries only what `retryable` says may heal (connection errors, 5xx,
//   429, truncated bodies) with exponential back-off. A 401 after credentials were sent is final.
// - Tokens are cached per registry + scope + user until their expiry (less a margin), so concurrent pulls
//   from one registry share a token; a registry that challenged with Basic gets Basic pre-emptively.
// - TLS: `plainHttp` → http://; `insecure` → https:// without certificate verification; otherwise https
//   with verification. Certificate and protocol failures are `TLS` (not retryable) and name the
//   setting that would change the outcome.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ImageReference } from '../../core/image-reference.ts';
import { registryApiHost } from '../../core/image-reference.ts';
import { ImagePullError } from './errors.ts';
import { leanGet, LeanHttpUnsupported } from './lean-http.ts';

/** A response as the client hands it out: node:http's IncomingMessage, or lean-http's for blob bodies. */
export interface RegistryResponse {
  readonly statusCode?: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
  /** lean-http only: the chunk's memory may be reused (see lean-http.ts). */
  recycle?(chunk: Buffer): void;
  resume(): void;
  destroy(error?: Error): void;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 200, maxMs: 5000 };

export interface RegistryTarget {
  /** The name the user asked for; every error carries it. */
  readonly image: string;
  readonly ref: ImageReference;
  readonly credential?: { readonly UserName: string; readonly Password: string };
  readonly plainHttp: boolean;
  readonly insecure: boolean;
  readonly signal?: AbortSignal;
}

interface CachedAuth {
  readonly header: string;
  readonly expiresAt: number;
}

interface Challenge {
  readonly scheme: string;
  readonly params: Record<string, string>;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

// Transport failures worth retrying: refused/reset/timed-out connections, DNS hiccups, truncated bodies.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;
// Tokens are renewed this long before they expire, so a token never dies between check and use.
const TOKEN_MARGIN_MS = 10_000;

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function backoffMs(policy: RetryPolicy, failure: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** failure);
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235; quoted values may hold commas). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (let p: RegExpExecArray | null; (p = re.exec(m[2])); ) {
    if (p[0] === '') break;
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** `errors[0].code: message` from a registry's error JSON, or a short text body, or ''. */
export function registryErrorText(body: string): string {
  try {
    const json = JSON.parse(body) as { errors?: { code?: string; message?: string }[]; details?: string; error?: string };
    const e = json.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
    if (typeof json.details === 'string') return json.details;
    if (typeof json.error === 'string') return json.error;
  } catch {
    // not JSON
  }
  const text = body.trim();
  return text.length <= 200 && !text.startsWith('<') ? text : '';
}

async function readBody(res: RegistryResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.destroy();
      break;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export class RegistryClient {
  readonly retry: RetryPolicy;
  readonly requestTimeoutMs: number;
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 32 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 32 });
  readonly #httpsInsecure = new HttpsAgent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });
  readonly #tokens = new Map<string, CachedAuth>();
  readonly #tokenFlights = new Map<string, Promise<CachedAuth>>();
  readonly #basicRegistries = new Set<string>();

  constructor(opts: { retry?: RetryPolicy; requestTimeoutMs?: number } = {}) {
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
    this.#httpsInsecure.destroy();
  }

  baseUrl(t: RegistryTarget): string {
    return `${t.plainHttp ? 'http' : 'https'}://${registryApiHost(t.ref.registry)}`;
  }

  /**
   * Runs `fn` until it succeeds, fails with a non-retryable error, or the attempts are spent. `fn` gets
   * the failure count; `progressed()` (when the caller made progress since the last failure) resets it, so
   * a long download that keeps moving is not killed by sporadic drops.
   */
  async withRetry<T>(t: RegistryTarget, fn: (failures: number) => Promise<T>, progressed?: () => boolean): Promise<T> {
    for (let failures = 0; ; ) {
      try {
        return await fn(failures);
      } catch (e) {
        const err = this.classify(t, e);
        if (progressed?.()) failures = 0;
        failures++;
        if (!err.retryable || failures >= this.retry.attempts) throw err;
        try {
          await sleep(backoffMs(this.retry, failures - 1), t.signal);
        } catch {
          throw this.classify(t, t.signal?.reason ?? e);
        }
      }
    }
  }

  /** Any failure as an ImagePullError (connection and TLS errors classified here). */
  classify(t: RegistryTarget, e: unknown): ImagePullError {
    if (e instanceof ImagePullError) return e;
    const host = registryApiHost(t.ref.registry);
    if (t.signal?.aborted) return new ImagePullError(t.image, 'Aborted', `pull of ${t.image} was cancelled`, { cause: e });
    const err = e as NodeJS.ErrnoException & { reason?: string };
    const code = err?.code ?? '';
    if (code === 'ABORT_ERR' || err?.name === 'AbortError') return new ImagePullError(t.image, 'Aborted', `pull of ${t.image} was cancelled`, { cause: e });
    if (TLS_CODES.has(code) || /ssl|tls|certificate/i.test(err?.message ?? '')) {
      const hint = t.plainHttp
        ? ''
        : code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO' || /wrong version number|packet length too long/i.test(err?.message ?? '')
          ? ` (the registry does not speak TLS? list ${t.ref.registry} in PlainHttpRegistry)`
          : ` (for a registry with a self-signed or private certificate, list ${t.ref.registry} in InsecureRegistry)`;
      // Node appends advice about --use-system-ca to some messages; the user's remedy is the registry setting.
      const detail = /wrong version number|packet length too long/i.test(err?.message ?? '')
        ? 'the server did not answer the TLS handshake with TLS'
        : (err?.message ?? '').split(';')[0].split('\n')[0].trim();
      return new ImagePullError(t.image, 'TLS', `TLS error talking to ${host}: ${detail}${code && !detail.includes(code) ? ` (${code})` : ''}${hint}`, { cause: e });
    }
    const detail = err?.message ?? String(e);
    if (NETWORK_CODES.has(code) || code.startsWith('HPE_'))
      return new ImagePullError(t.image, 'Unavailable', `cannot reach registry ${host}: ${code && !detail.includes(code) ? code + ' ' : ''}${detail}`, { cause: e, retryable: true });
    // Not the network: the host (disk full, permissions, a tool failing). Retrying the pull cannot help.
    return new ImagePullError(t.image, 'Unavailable', `pull ${t.image}: storing the image on this host failed: ${detail}`, { cause: e, retryable: false });
  }

  /**
   * One HTTP exchange (no auth, no retry); follows redirects. Resolves with the response headers.
   * `lean`: through lean-http (large bodies: far less CPU per byte); what it does not handle (a chunked
   * answer) is asked again through node:http.
   */
  async #send(t: RegistryTarget, url: URL, headers: Record<string, string>, redirects = 0, lean = false): Promise<RegistryResponse> {
    if (!lean) return this.#sendHttp(t, url, headers, redirects);
    let res: RegistryResponse;
    try {
      res = await leanGet({ url, headers: { 'User-Agent': 'openeci', ...headers }, rejectUnauthorized: !t.insecure, signal: t.signal, timeoutMs: this.requestTimeoutMs });
    } catch (e) {
      if (e instanceof LeanHttpUnsupported) return this.#sendHttp(t, url, headers, redirects);
      throw e;
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && typeof location === 'string') {
      res.resume();
      if (redirects >= MAX_REDIRECTS) throw new ImagePullError(t.image, 'Unavailable', `too many redirects from ${url.host}`, { status });
      const next = new URL(location, url);
      return this.#send(t, next, redirectHeaders(headers, url, next), redirects + 1, true);
    }
    return res;
  }

  #sendHttp(t: RegistryTarget, url: URL, headers: Record<string, string>, redirects = 0): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? httpsRequest : httpRequest)(url, {
        method: 'GET',
        headers: { 'User-Agent': 'openeci', ...headers },
        agent: isHttps ? (t.insecure ? this.#httpsInsecure : this.#https) : this.#http,
        signal: t.signal,
      });
      req.setTimeout(this.requestTimeoutMs, () => {
        const e = new Error(`no data for ${this.requestTimeoutMs} ms`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        req.destroy(e);
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
          res.resume();
          if (redirects >= MAX_REDIRECTS) return reject(new ImagePullError(t.image, 'Unavailable', `too many redirects from ${url.host}`, { status }));
          const next = new URL(res.headers.location, url);
          this.#sendHttp(t, next, redirectHeaders(headers, url, next), redirects + 1).then(resolve, reject);
          return;
        }
        resolve(res);
      });
      req.end();
    });
  }

  /**
   * GET `path` (under /v2/) with the auth the registry asks for. Resolves with a 200/206 response; every
   * other answer is read and thrown as an ImagePullError carrying the registry's error text. `lean`: for
   * a large body (a layer blob), read through lean-http (see #send).
   */
  async get(t: RegistryTarget, path: string, headers: Record<string, string> = {}, opts: { lean?: boolean } = {}): Promise<RegistryResponse> {
    const url = new URL(`${this.baseUrl(t)}/v2/${path}`);
    const scope = `repository:${t.ref.repository}:pull`;
    const lean = opts.lean ?? false;
    let auth = this.#cachedAuth(t, scope);
    let res = await this.#send(t, url, auth ? { ...headers, Authorization: auth } : headers, 0, lean);
    // At most one fresh authentication per request: a cached token the registry no longer accepts earns
    // one new token; credentials the registry (or its token server) rejects end the pull (no retry storm).
    for (let fresh = false; res.statusCode === 401; ) {
      const challengeHeader = res.headers['www-authenticate'];
      const body = registryErrorText((await readBody(res, MAX_ERROR_BODY)).toString());
      const challenge = parseChallenge(Array.isArray(challengeHeader) ? challengeHeader[0] : (challengeHeader ?? ''));
      if (!challenge || fresh || auth?.startsWith('Basic')) throw this.#unauthorized(t, url, body);
      if (challenge.scheme === 'bearer') {
        this.#tokens.delete(tokenKey(t, scope));
        auth = (await this.#token(t, challenge, scope)).header;
      } else if (challenge.scheme === 'basic') {
        if (!t.credential) throw this.#unauthorized(t, url, body);
        this.#basicRegistries.add(t.ref.registry);
        auth = basicHeader(t.credential);
      } else {
        throw new ImagePullError(t.image, 'Unsupported', `registry ${url.host} asks for unsupported auth scheme ${challenge.scheme}`, { status: 401 });
      }
      fresh = true;
      res = await this.#send(t, url, { ...headers, Authorization: auth }, 0, lean);
    }
    const status = res.statusCode ?? 0;
    if (status === 200 || status === 206) return res;
    const text = registryErrorText((await readBody(res, MAX_ERROR_BODY)).toString());
    throw this.#statusError(t, url, status, text, headerText(res.headers['retry-after']));
  }

  /** A whole small body (manifest, config), retried. */
  async getBuffer(t: RegistryTarget, path: string, headers: Record<string, string> = {}, limit = 16 * 1024 * 1024): Promise<{ body: Buffer; headers: RegistryResponse['headers'] }> {
    return this.withRetry(t, async () => {
      const res = await this.get(t, path, headers);
      const expected = Number(res.headers['content-length'] ?? NaN);
      const body = await readBody(res, limit);
      if (body.length > limit) throw new ImagePullError(t.image, 'Unsupported', `${path} is larger than ${limit} bytes`);
      if (Number.isFinite(expected) && body.length !== expected)
        throw new ImagePullError(t.image, 'Unavailable', `truncated response from ${registryApiHost(t.ref.registry)} (${body.length} of ${expected} bytes)`, { retryable: true });
      return { body, headers: res.headers };
    });
  }

  #cachedAuth(t: RegistryTarget, scope: string): string | undefined {
    const tok = this.#tokens.get(tokenKey(t, scope));
    if (tok && tok.expiresAt > Date.now()) return tok.header;
    if (t.credential && this.#basicRegistries.has(t.ref.registry)) return basicHeader(t.credential);
    return undefined;
  }

  #token(t: RegistryTarget, challenge: Challenge, scope: string): Promise<CachedAuth> {
    const key = tokenKey(t, scope);
    const flight = this.#tokenFlights.get(key);
    if (flight) return flight;
    const p = this.#fetchToken(t, challenge, scope).finally(() => this.#tokenFlights.delete(key));
    this.#tokenFlights.set(key, p);
    return p;
  }

  async #fetchToken(t: RegistryTarget, challenge: Challenge, scope: string): Promise<CachedAuth> {
    const realm = challenge.params.realm;
    if (!realm) throw new ImagePullError(t.image, 'Unsupported', `registry ${registryApiHost(t.ref.registry)} sent a Bearer challenge without a realm`, { status: 401 });
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope || scope);
    const headers: Record<string, string> = t.credential ? { Authorization: basicHeader(t.credential) } : {};
    const res = await this.#send(t, url, headers);
    const body = (await readBody(res, MAX_ERROR_BODY)).toString();
    const status = res.statusCode ?? 0;
    if (status === 401) throw this.#unauthorized(t, url, registryErrorText(body));
    if (status !== 200) throw this.#statusError(t, url, status, registryErrorText(body), headerText(res.headers['retry-after']));
    let json: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      json = JSON.parse(body);
    } catch {
      throw new ImagePullError(t.image, 'Unavailable', `token server ${url.host} answered with invalid JSON`, { retryable: true });
    }
    const token = json.token || json.access_token;
    if (!token) throw new ImagePullError(t.image, 'Unavailable', `token server ${url.host} answered without a token`, { retryable: true });
    const issued = json.issued_at ? Date.parse(json.issued_at) : NaN;
    // The token spec's default lifetime is 60 s.
    const expiresAt = (Number.isFinite(issued) ? Math.min(issued, Date.now()) : Date.now()) + (json.expires_in ?? 60) * 1000 - TOKEN_MARGIN_MS;
    const cached = { header: `Bearer ${token}`, expiresAt };
    this.#tokens.set(tokenKey(t, scope), cached);
    return cached;
  }

  #unauthorized(t: RegistryTarget, url: URL, text: string): ImagePullError {
    const why = t.credential ? `the credentials for ${t.ref.registry} (user ${t.credential.UserName}) were rejected` : `no credentials for ${t.ref.registry} were given`;
    return new ImagePullError(t.image, 'Unauthorized', `pull ${t.image}: ${url.host} answered 401 ${text || 'Unauthorized'}; ${why}`, { status: 401, retryable: false });
  }

  #statusError(t: RegistryTarget, url: URL, status: number, text: string, retryAfter?: string): ImagePullError {
    const what = `pull ${t.image}: ${url.host} answered ${status}${text ? ' ' + text : ''}`;
    if (status === 400 && /HTTP request to an HTTPS server/i.test(text))
      return new ImagePullError(t.image, 'TLS', `${what} (${t.ref.registry} speaks https: remove it from PlainHttpRegistry)`, { status });
    if (status === 403) return new ImagePullError(t.image, 'Denied', what, { status });
    if (status === 404 || /^(MANIFEST_UNKNOWN|NAME_UNKNOWN|BLOB_UNKNOWN)/.test(text)) return new ImagePullError(t.image, 'NotFound', what, { status });
    if (status === 429 || status >= 500) return new ImagePullError(t.image, 'Unavailable', what + (retryAfter ? ` (retry after ${retryAfter})` : ''), { status, retryable: true });
    if (/^NAME_INVALID/.test(text)) return new ImagePullError(t.image, 'InvalidReference', what, { status });
    // 416: our resume point is not servable; the caller restarts the blob from byte 0 rather than retrying.
    if (status === 416) return new ImagePullError(t.image, 'Unavailable', what, { status, retryable: false });
    return new ImagePullError(t.image, 'Unsupported', what, { status });
  }
}

const headerText = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** The headers for a redirect's target: blob stores behind one (S3, CDNs) reject or must not see the registry's credentials. */
function redirectHeaders(headers: Record<string, string>, from: URL, to: URL): Record<string, string> {
  if (to.host === from.host) return headers;
  const { Authorization: _dropped, ...rest } = headers;
  return rest;
}

function basicHeader(c: { UserName: string; Password: string }): string {
  return `Basic ${Buffer.from(`${c.UserName}:${c.Password}`).toString('base64')}`;
}

// The user is part of the key: an anonymous token must not serve a pull that brought credentials.
function tokenKey(t: RegistryTarget, scope: string): string {
  return `${t.ref.registry}|${scope}|${t.credential?.UserName ?? ''}`;
}
