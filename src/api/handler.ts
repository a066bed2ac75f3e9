// The request pipeline, independent of the HTTP server so tests can drive it in-process:
// parse → resolve action → authenticate (signature, skew, nonce) → parse parameters → run the
// handler (mutating ones inside one transaction with ClientToken/DryRun) → envelope.

import { createHash, randomBytes } from 'node:crypto';
import type { ServerConfig } from '../core/config.ts';
import { ApiError, invalid } from '../core/errors.ts';
import { newRequestId, type RandomBytes } from '../core/ids.ts';
import { parseParams } from '../core/params.ts';
import { rfc3339 } from '../core/time.ts';
import type { AccessKey, Store } from '../store/store.ts';
import { PRODUCTS, RENDERED, type ActionContext, type AnyAction, type Product } from './action.ts';
import { errorResponse } from './envelope.ts';
import { readCredentials } from './signature.ts';

export interface WireRequest {
  readonly method: string;
  /** Path and query, as on the request line. */
  readonly url: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface WireResponse {
  readonly status: number;
  readonly body: string;
}

export interface ApiDeps {
  readonly store: Store;
  readonly config: ServerConfig;
  readonly actions: readonly AnyAction[];
  /** Names of the reference's actions that OpenECI does not implement, per product. */
  readonly unsupported?: Readonly<Partial<Record<Product, readonly string[]>>>;
  readonly clock?: () => Date;
  readonly random?: RandomBytes;
}

/** Parameters that carry the protocol, not the action; excluded from the ClientToken fingerprint. */
const PROTOCOL_PARAMS = new Set([
  'Action', 'Version', 'Format', 'AccessKeyId', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce',
  'SignatureType', 'Timestamp', 'Signature', 'SecurityToken', 'ClientToken', 'RegionId', 'DryRun',
  'OwnerId', 'OwnerAccount', 'ResourceOwnerId', 'ResourceOwnerAccount',
]);

function decode(s: string, plusIsSpace: boolean): string {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, ' ') : s);
  } catch {
    throw invalid('InvalidParameter', `The request contains a malformed percent-encoding: "${s.slice(0, 64)}".`);
  }
}

function parsePairs(text: string, plusIsSpace: boolean): [string, string][] {
  if (!text) return [];
  const out: [string, string][] = [];
  for (const part of text.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = decode(eq < 0 ? part : part.slice(0, eq), plusIsSpace);
    const v = eq < 0 ? '' : decode(part.slice(eq + 1), plusIsSpace);
    out.push([k, v]);
  }
  return out;
}

function header(h: WireRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * crypto.randomBytes in bulk: one call per few hundred request ids instead of one per id (a small
 * randomBytes call costs microseconds of fixed overhead). Still the CSPRNG; bytes are never reused.
 */
function pooledRandom(poolSize = 4096): RandomBytes {
  let pool = Buffer.alloc(0);
  let used = 0;
  return (n) => {
    if (n > poolSize) return randomBytes(n);
    if (used + n > pool.length) {
      pool = randomBytes(poolSize);
      used = 0;
    }
    const out = pool.subarray(used, used + n);
    used += n;
    return out;
  };
}

/**
 * How long a looked-up access key is trusted without asking the store again. Keys are created by
 * `eci keys` in another process and never changed in place, so a hit stays right; unknown ids are
 * not cached, so a new key works at once. A key removed from the store would keep working this long.
 */
const ACCESS_KEY_TTL_MS = 5_000;

/**
 * The signature nonces this server has seen, with their expiry (request timestamp + window), checked
 * before the store. Replay protection, exactly:
 * - A MUTATING request's nonce is also claimed inside the action's own transaction (Tx.claimNonce):
 *   a reused one aborts it with SignatureNonceUsed before the handler runs, on any server sharing
 *   the database, and a write that fails, is a DryRun or is answered from its ClientToken's record
 *   has its nonce recorded durably before it is answered. Writes are never replayable, across
 *   servers, restarts and crashes. (A write refused before its transaction starts, for malformed
 *   parameters or an unknown region, is remembered by this cache only: replayed elsewhere it is
 *   refused again, for the same reason.)
 * - A READ-ONLY request's nonce is checked against and added to this cache, and written to the store
 *   behind, in batches every 50 ms (Store.recordNonceLater); a server loads the unexpired
 *   nonces on start-up, and close() writes what is queued. So on a single server a read is never
 *   answered twice (a kill -9 loses at most the last flush interval of read nonces: those reads
 *   could be replayed once after the restart). With several servers on PostgreSQL, or the worker
 *   processes of one server (eci server --workers), a process does not see the reads the others
 *   answered after it started: a read-only request replayed to ANOTHER process within the signature
 *   window can be answered again, and a nonce a read used there is not refused on a new write here
 *   (a client's mistake, not a replay: the signature covers the action). Reads change nothing; the
 *   write path above does not depend on this cache.
 * - Bounded: at most NONCE_CACHE_MAX entries, dropped as they expire. When it is full, or while the
 *   start-up load was cut short by that bound, it cannot tell a new nonce from an old one, and reads
 *   fall back to the durable check (Store.useNonce) until it can.
 */
const NONCE_CACHE_MAX = 500_000;
/** Expiry bucket width: whole buckets are dropped once past. */
const NONCE_BUCKET_MS = 10_000;

class NonceCache {
  readonly #seen = new Map<string, number>();
  readonly #buckets = new Map<number, string[]>();
  #oldestBucket = Infinity;
  /** Until then (ms) a nonce missing from the cache may still be stored: the start-up load was cut short. */
  #incompleteUntil = 0;

  async load(store: Store, nowMs: number, windowMs: number): Promise<void> {
    const live = await store.liveNonces(nowMs, NONCE_CACHE_MAX);
    for (const n of live) this.#add(n.nonce, n.expiresAt);
    // A nonce not loaded expires by its request's timestamp + window, and that timestamp was at most
    // a window ahead of a clock before now.
    if (live.length >= NONCE_CACHE_MAX) this.distrust(nowMs, windowMs);
  }

  /** The cache cannot vouch for a nonce it lacks until every nonce it may have missed has expired. */
  distrust(nowMs: number, windowMs: number): void {
    this.#incompleteUntil = Math.max(this.#incompleteUntil, nowMs + 2 * windowMs);
  }

  /**
   * 'used': seen and unexpired. 'fresh': new, and now remembered. 'unknown': the cache cannot tell
   * (full, or the start-up load was incomplete); the caller asks the store.
   */
  claim(nonce: string, nowMs: number, expiresAt: number): 'used' | 'fresh' | 'unknown' {
    const was = this.#seen.get(nonce);
    if (was !== undefined && was >= nowMs) return 'used';
    this.#expire(nowMs);
    if (this.#seen.size >= NONCE_CACHE_MAX) return 'unknown';
    this.#add(nonce, expiresAt);
    return nowMs < this.#incompleteUntil ? 'unknown' : 'fresh';
  }

  #add(nonce: string, expiresAt: number): void {
    const was = this.#seen.get(nonce);
    if (was !== undefined && was >= expiresAt) return;
    this.#seen.set(nonce, expiresAt);
    const b = Math.floor(expiresAt / NONCE_BUCKET_MS);
    const list = this.#buckets.get(b);
    if (list) list.push(nonce);
    else this.#buckets.set(b, [nonce]);
    if (b < this.#oldestBucket) this.#oldestBucket = b;
  }

  #expire(nowMs: number): void {
    const last = Math.floor(nowMs / NONCE_BUCKET_MS) - 1;
    if (this.#oldestBucket > last) return;
    for (const [b, list] of this.#buckets) {
      if (b > last) continue;
      for (const n of list) {
        const e = this.#seen.get(n);
        if (e !== undefined && e < (b + 1) * NONCE_BUCKET_MS) this.#seen.delete(n);
      }
      this.#buckets.delete(b);
    }
    this.#oldestBucket = Infinity;
    for (const b of this.#buckets.keys()) if (b < this.#oldestBucket) this.#oldestBucket = b;
  }
}

/**
 * Resolves once per turn of the event loop, for everyone waiting in it. Reads wait for it so that the
 * requests read from the sockets in one turn are answered together in the next: measured on the
 * server (bench, SQLite Describe), answering each the moment it is parsed cost ~40% more CPU per
 * request (more wake-ups and smaller writes per turn) than this, which the per-turn nonce batch
 * used to do implicitly.
 */
let turn: Promise<void> | undefined;
const nextTurn = (): Promise<void> =>
  (turn ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      turn = undefined;
      resolve();
    }),
  ));

const nonceUsed = () => invalid('SignatureNonceUsed', 'Specified signature nonce was used already.');

export function createApiHandler(deps: ApiDeps): (req: WireRequest) => Promise<WireResponse> {
  const clock = deps.clock ?? (() => new Date());
  const random = deps.random ?? pooledRandom();
  const keyCache = new Map<string, { key: AccessKey; until: number }>();
  const accessKey = async (id: string, nowMs: number): Promise<AccessKey | undefined> => {
    const hit = keyCache.get(id);
    if (hit && hit.until > nowMs) return hit.key;
    const key = await deps.store.getAccessKey(id);
    if (key) {
      if (keyCache.size >= 10_000) keyCache.clear();
      keyCache.set(id, { key, until: nowMs + ACCESS_KEY_TTL_MS });
    }
    return key;
  };
  const nonces = new NonceCache();
  const startMs = clock().getTime();
  let noncesLoaded: Promise<void> | undefined = nonces
    .load(deps.store, startMs, deps.config.signatureWindowMs)
    .catch((e: unknown) => {
      console.error('loading the used signature nonces failed; reads check the store until they expire:', e);
      nonces.distrust(startMs, deps.config.signatureWindowMs);
    })
    .then(() => {
      noncesLoaded = undefined;
    });
  const byKey = new Map<string, AnyAction>();
  for (const a of deps.actions) byKey.set(`${PRODUCTS[a.product].version}/${a.name}`, a);
  const versions = new Map<string, Product>(Object.entries(PRODUCTS).map(([p, v]) => [v.version, p as Product]));
  const regions = new Set(deps.config.regions.map((r) => r.regionId));

  return async function handle(req: WireRequest): Promise<WireResponse> {
    const requestId = newRequestId(random);
    const hostId = header(req.headers, 'host') ?? 'openeci';
    try {
      const body = await run(req, requestId);
      return { status: 200, body: typeof body === 'string' ? body : JSON.stringify(body) };
    } catch (e) {
      if (!(e instanceof ApiError)) console.error(`[${requestId}]`, e);
      const { status, body } = errorResponse(e, requestId, hostId, deps.config.debug);
      return { status, body: JSON.stringify(body) };
    }
  };

  /** The answer's body: an object, or its JSON text already (a rendered result, see renderedResult). */
  async function run(req: WireRequest, requestId: string): Promise<Record<string, unknown> | string> {
    const method = req.method.toUpperCase();
    if (method !== 'GET' && method !== 'POST')
      throw new ApiError('InvalidInput', 'UnsupportedHTTPMethod', `The HTTP method ${method} is not supported; use GET or POST.`);
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (path !== '/') throw new ApiError('NotFound', 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
    const query = parsePairs(q < 0 ? '' : req.url.slice(q + 1), false);
    const contentType = header(req.headers, 'content-type') ?? '';
    const form = contentType.startsWith('application/x-www-form-urlencoded') ? parsePairs(req.body.toString('utf8'), true) : [];
    const params = new Map<string, string>([...query, ...form]);

    // The action must come from what the signature covers: V1 signs the parameters only, so its
    // x-acs-* headers (pop-core and the SDK send them too) are ignored; V3 signs the headers it names,
    // and readCredentials refuses an x-acs-action/x-acs-version it does not sign. (A request with no
    // signature at all may name its action either way: it is refused as IncompleteSignature.)
    const v1 = !header(req.headers, 'authorization')?.startsWith('ACS3-') && params.has('Signature');
    const actionName = (v1 ? undefined : header(req.headers, 'x-acs-action')) ?? params.get('Action');
    const version = (v1 ? undefined : header(req.headers, 'x-acs-version')) ?? params.get('Version');
    if (!actionName) throw invalid('MissingParameter', 'The input parameter "Action" that is mandatory for processing this request is not supplied.');
    if (!version) throw invalid('MissingParameter', 'The input parameter "Version" that is mandatory for processing this request is not supplied.');
    const product = versions.get(version);
    if (!product) throw new ApiError('InvalidInput', 'InvalidVersion', `Specified parameter Version "${version}" is not valid.`);
    const action = byKey.get(`${version}/${actionName}`);
    if (!action) {
      if (deps.unsupported?.[product]?.includes(actionName))
        throw invalid('UnsupportedOperation', `The action ${actionName} of ${PRODUCTS[product].title} ${version} is not implemented by OpenECI.`);
      throw new ApiError('NotFound', 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
    }

    // Authentication: signature, then the time window, then the nonce (recorded only for a valid signature).
    const creds = readCredentials({ method, query, form, headers: req.headers, body: req.body });
    const now = clock();
    const key = await accessKey(creds.accessKeyId, now.getTime());
    if (!key) throw new ApiError('NotFound', 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    if (!creds.verify(key.accessKeySecret))
      throw new ApiError('Unauthenticated', 'SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.', 403);
    const window = deps.config.signatureWindowMs;
    if (Math.abs(now.getTime() - creds.timestampMs) > window)
      throw invalid('InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    // The nonce is remembered while its request could pass the time check: until timestamp + window.
    // See NonceCache for what is checked where.
    if (noncesLoaded) await noncesLoaded;
    const nonce = `${key.accessKeyId}/${creds.nonce}`;
    const nowMs = now.getTime();
    const expiresAt = creds.timestampMs + window;
    const cached = nonces.claim(nonce, nowMs, expiresAt);
    if (cached === 'used') throw nonceUsed();
    if (!action.mutating) {
      if (cached === 'fresh') {
        deps.store.recordNonceLater(nonce, expiresAt);
        await nextTurn();
      }
      else if (!(await deps.store.useNonce(nonce, nowMs, expiresAt - nowMs))) throw nonceUsed();
    }

    const regionId = params.get('RegionId');
    if (regionId !== undefined && regionId !== '' && !regions.has(regionId))
      throw new ApiError('NotFound', 'InvalidRegionId.NotFound', `The specified RegionId "${regionId}" does not exist.`);

    const typed: any = parseParams(action.params, params);
    const base = {
      account: key.account,
      requestId,
      now,
      nowText: rfc3339(now),
      config: deps.config,
      random,
      store: deps.store,
    };
    if (!action.mutating) {
      const result = await action.handler({ ...base, tx: deps.store }, typed);
      const rendered = (result as { [RENDERED]?: unknown })[RENDERED];
      if (typeof rendered === 'string') return `{"RequestId":${JSON.stringify(requestId)},${rendered}}`;
      return { RequestId: requestId, ...result };
    }

    const token = params.get('ClientToken');
    if (token !== undefined && (token.length > 64 || !/^[\x20-\x7e]*$/.test(token)))
      throw invalid('InvalidClientToken.Malformed', 'The specified ClientToken is malformed: at most 64 ASCII characters.');
    const dryRun = params.get('DryRun')?.toLowerCase() === 'true';
    const fingerprint = fingerprintOf(action.name, params);
    const result = await deps.store.tx(async (tx) => {
      // The nonce and the token are claimed first (a replayed nonce is refused before the token is
      // looked at; the token is reserved for this transaction until it ends, so a second request
      // with it waits, then sees the first one's answer: Tx.claimIdempotency). The handler starts at
      // once, so that its statements, writes included, travel with the claims (one round trip on
      // PostgreSQL, behind the transaction's lock) and run after them. A refused or already answered
      // request rolls the whole transaction back, whatever the handler did in it.
      const claimed = tx.claimNonce(nonce, nowMs, expiresAt);
      const earlier = token && !dryRun ? tx.claimIdempotency(key.account, action.name, token, fingerprint, base.nowText) : undefined;
      const verdict = Promise.allSettled([claimed, earlier]).then(async () => {
        if (!(await claimed)) throw nonceUsed();
        const seen = await earlier;
        if (seen && seen.paramsHash !== fingerprint)
          throw invalid('IdempotentParameterMismatch', 'The request uses the same client token as a previous, but non-identical request.');
        return seen;
      });
      const ctx: ActionContext = { ...base, tx };
      const running = new Promise<Record<string, unknown>>((resolve) => resolve(action.handler(ctx, typed)));
      await Promise.allSettled([verdict, running]);
      const seen = await verdict;
      if (seen) throw new Answered(seen.response);
      const out = await running;
      // DryRun: every check passed; throwing rolls the transaction back so nothing is written.
      if (dryRun) throw invalid('DryRunOperation', 'Request validation has been passed with DryRun flag set.');
      if (token) await tx.putIdempotency(key.account, action.name, token, { paramsHash: fingerprint, response: JSON.stringify(out) }, base.nowText);
      return out;
    }, `account:${key.account}`, action.sharedAccountLock?.(typed) ? 'shared' : 'exclusive').catch(async (e: unknown) => {
      // The transaction rolled back with its nonce: record it durably before answering, so the same
      // request cannot be replayed later (on any server) when the state has changed.
      if (e instanceof Answered) {
        // A request with the same nonce that claimed it meanwhile is the one answered.
        if (!(await deps.store.useNonce(nonce, nowMs, expiresAt - nowMs))) throw nonceUsed();
        return JSON.parse(e.response) as Record<string, unknown>;
      }
      if (!(e instanceof ApiError && e.code === 'SignatureNonceUsed'))
        await deps.store.useNonce(nonce, nowMs, expiresAt - nowMs).catch((w: unknown) => console.error(`[${requestId}] recording the nonce of a failed write:`, w));
      throw e;
    });
    return { RequestId: requestId, ...result };
  }
}

/**
 * A write whose ClientToken was answered by an earlier request: its transaction (the handler's writes
 * with it) is rolled back, and that earlier answer returned.
 */
class Answered extends Error {
  readonly response: string;
  constructor(response: string) {
    super('the request was answered before');
    this.response = response;
  }
}

function fingerprintOf(action: string, params: ReadonlyMap<string, string>): string {
  const h = createHash('sha256').update(action);
  for (const k of [...params.keys()].sort()) {
    if (PROTOCOL_PARAMS.has(k)) continue;
    h.update('\0' + k + '\0' + params.get(k));
  }
  return h.digest('hex');
}
