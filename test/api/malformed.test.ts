// Malformed input against every registered action (ALL_ACTIONS, read at run time, so actions added
// later are covered without touching this file). Each request is correctly signed, so the garbage
// reaches parameter parsing and the handlers. Whatever arrives, the answer must be an envelope with a
// Code and a 4xx status, or a well-formed success; never a 5xx, a hang or a dropped connection.
//
// Values come from walking each action's schema (spec.t): every declared parameter (at every depth of
// lists and structs) gets junk of the wrong type, while the required parameters around it get
// plausible values (real resource IDs where known), so that the junk is what the server trips over.
// Mutating actions run with DryRun=true: the handler runs in full and its transaction is rolled back,
// so the shared fixtures survive.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PRODUCTS, type AnyAction } from '../../src/api/action.ts';
import { ALL_ACTIONS } from '../../src/api/actions/index.ts';
import type { Fields, Spec } from '../../src/core/params.ts';
import { startServer, type TestKey, type TestServer } from '../helpers/server.ts';
import { closeConnections, send, signV1, signV3, type Pairs, type RawRequest } from '../helpers/sign.ts';

const REGION = 'cn-hangzhou';
const CONCURRENCY = 12;
/** Requests spent on per-parameter junk, spread evenly over every parameter of every action. */
const SLOT_BUDGET = 3000;

const LONG = 'L'.repeat(5000);
const JUNK: readonly string[] = [
  '',
  'x',
  '-1',
  '0',
  '1.5',
  '1e999',
  '99999999999999999999',
  '-99999999999999999999',
  'NaN',
  '[',
  '{"a":',
  '{"a":1}',
  '["a",{"b":1}]',
  '[1,2]',
  'null',
  'true',
  ' ',
  'é漢😀\u0000\u202e',
  LONG,
  '\u00e9'.repeat(5000),
  '../../../etc/passwd',
  "'; DROP TABLE resources; --",
  '%ZZ',
  '255.255.255.255/33',
  '1/65536',
  '-1/-1',
  'a,b,,c,' + 'x,'.repeat(200),
  '__proto__',
];

// ---------------------------------------------------------------------------------------------------
// Walking the schema.

interface Slot {
  /** Wire name with list indices filled in (`Container.1.Port.1.Port`), or the list/struct itself. */
  readonly path: string;
  readonly spec: Spec;
  /** The structs that enclose the slot, with their wire prefixes: their required fields are filled. */
  readonly enclosing: readonly { prefix: string; fields: Fields }[];
}

function slotsOf(fields: Fields, prefix = '', enclosing: Slot['enclosing'] = []): Slot[] {
  const out: Slot[] = [];
  for (const [name, spec] of Object.entries(fields)) {
    const path = prefix + name;
    out.push({ path, spec, enclosing });
    if (spec.t === 'list') {
      const item = `${path}.1`;
      if (spec.of.t === 'struct') out.push(...slotsOf(spec.of.fields, item + '.', [...enclosing, { prefix: item + '.', fields: spec.of.fields }]));
      else out.push({ path: item, spec: spec.of, enclosing });
    } else if (spec.t === 'struct') {
      out.push(...slotsOf(spec.fields, path + '.', [...enclosing, { prefix: path + '.', fields: spec.fields }]));
    }
  }
  return out;
}

/** IDs of real resources, by parameter name, found in the fixtures' responses. */
type Ids = Map<string, string>;

const HINTS: [RegExp, (ids: Ids) => string | undefined][] = [
  [/^RegionId$|RegionId$/, () => REGION],
  [/ZoneId$|^Zone$/, () => 'cn-hangzhou-h'],
  [/^InstanceId$/, (ids) => ids.get('ContainerGroupId') ?? ids.get('NatGatewayId')],
  [/^IpInstanceId$/, (ids) => ids.get('AllocationId')],
  [/^(SnatIp|ExternalIp|EipAddress|IpAddress)$/, (ids) => ids.get('EipAddress')],
  [/Cidr/, () => '10.0.2.0/24'],
  [/Ip(Address)?$/, () => '10.0.1.10'],
  [/PortRange$/, () => '80/80'],
  [/Port$/, () => '80'],
  [/Protocol$/, () => 'TCP'],
  [/Bandwidth$/, () => '5'],
  [/Image$/, () => 'nginx:latest'],
  [/Policy$/, () => 'accept'],
  [/Priority$/, () => '1'],
  [/NicType$/, () => 'intranet'],
  [/Name$/, () => 'fuzz-name'],
  [/Command$|Arg$/, () => '/bin/sh'],
];

function fits(spec: Spec, v: string): boolean {
  if (spec.t !== 'string') return true;
  if (spec.min !== undefined && v.length < spec.min) return false;
  if (spec.max !== undefined && v.length > spec.max) return false;
  return !spec.pattern || spec.pattern.test(v);
}

/** A value the field most likely accepts. */
function plausible(name: string, spec: Spec, ids: Ids): string {
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  switch (spec.t) {
    case 'enum':
      return spec.default ?? spec.values[0];
    case 'int':
    case 'float':
      return String(spec.default ?? spec.min ?? Math.min(1, spec.max ?? 1));
    case 'bool':
      return 'false';
    case 'jsonList':
      return JSON.stringify([ids.get(leaf.replace(/s$/, '')) ?? 'x']);
    case 'csv':
      return ids.get(leaf) ?? 'x';
    case 'string': {
      const candidates = [ids.get(leaf), ...HINTS.filter(([re]) => re.test(leaf)).map(([, f]) => f(ids)), spec.default, 'x', 'abc', 'a-1', '1'];
      return candidates.find((c): c is string => c !== undefined && fits(spec, c)) ?? 'x';
    }
    default:
      return 'x';
  }
}

/** Fills the required fields of `fields` (recursing into required lists and structs). */
function fillRequired(fields: Fields, prefix: string, ids: Ids, out: Map<string, string>): void {
  for (const [name, spec] of Object.entries(fields)) {
    if (!spec.required) continue;
    const path = prefix + name;
    if (spec.t === 'list') {
      if (spec.of.t === 'struct') fillRequired(spec.of.fields, `${path}.1.`, ids, out);
      else out.set(`${path}.1`, plausible(path, spec.of, ids));
    } else if (spec.t === 'struct') fillRequired(spec.fields, path + '.', ids, out);
    else out.set(path, plausible(path, spec, ids));
  }
}

function baseParams(action: AnyAction, ids: Ids, enclosing: Slot['enclosing'] = []): Map<string, string> {
  const out = new Map<string, string>([['RegionId', REGION]]);
  // Optional references to real resources too (CreateSecurityGroup needs its VpcId in practice).
  for (const [name, spec] of Object.entries(action.params as Fields)) if (spec.t === 'string' && ids.has(name)) out.set(name, ids.get(name)!);
  fillRequired(action.params, '', ids, out);
  for (const e of enclosing) fillRequired(e.fields, e.prefix, ids, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Cases.

interface Case {
  readonly action: AnyAction;
  readonly what: string;
  readonly params: Pairs;
  /** Appended to the query string as is, after signing (bad percent-encoding). */
  readonly rawSuffix?: string;
}

function withParams(base: Map<string, string>, extra: Pairs): Pairs {
  const m = new Map(base);
  for (const [k] of extra) m.delete(k);
  return [...m, ...extra];
}

function casesFor(action: AnyAction, ids: Ids, perSlot: number, rotation: { n: number }): Case[] {
  const out: Case[] = [];
  const add = (what: string, params: Pairs, rawSuffix?: string) => out.push({ action, what, params, rawSuffix });
  const slots = slotsOf(action.params);

  // Every parameter, at every depth, with junk; a different window of the junk list per slot so that
  // every junk value meets every type somewhere.
  for (const slot of slots) {
    const base = baseParams(action, ids, slot.enclosing);
    for (let i = 0; i < perSlot; i++) {
      const value = JUNK[(rotation.n + i) % JUNK.length];
      add(`${slot.path} (${slot.spec.t}) = junk #${(rotation.n + i) % JUNK.length}`, withParams(base, [[slot.path, value]]));
    }
    rotation.n += perSlot;

    // Shape errors: a list or struct given as a scalar, bad indices, an index under a scalar.
    if (slot.spec.t === 'list') {
      const item = slot.spec.of.t === 'struct' ? '.' + (Object.keys(slot.spec.of.fields)[0] ?? 'Key') : '';
      for (const bad of [`${slot.path}`, `${slot.path}.0${item}`, `${slot.path}.x${item}`, `${slot.path}.-1${item}`, `${slot.path}.01${item}`,
        `${slot.path}.99999999999999999999${item}`, `${slot.path}.1000000${item}`, `${slot.path}..`, `${slot.path}.1.__proto__`, `${slot.path}.constructor`])
        add(`shape ${bad}`, withParams(base, [[bad, 'x']]));
      if (slot.spec.of.t === 'struct') add(`shape ${slot.path}.1 as scalar`, withParams(base, [[`${slot.path}.1`, 'x']]));
      // Many items: over any max, and far apart.
      add(`${slot.path} with 200 items`, withParams(base, Array.from({ length: 200 }, (_, i) => [`${slot.path}.${i + 1}${item}`, 'v'] as [string, string])));
      add(`${slot.path} sparse indices`, withParams(base, [[`${slot.path}.7${item}`, 'a'], [`${slot.path}.999999${item}`, 'b']]));
    } else if (slot.spec.t === 'struct') {
      add(`shape ${slot.path} as scalar`, withParams(base, [[slot.path, 'x']]));
      add(`shape ${slot.path}.x.y`, withParams(base, [[`${slot.path}.x.y`, 'x']]));
    } else {
      // A scalar given list indices or children (alternately, to bound the count).
      const child = rotation.n % 2 ? `${slot.path}.1` : `${slot.path}.a.b`;
      add(`shape ${child}`, withParams(base, [[child, 'x']]));
    }
    if (slot.spec.t === 'jsonList') {
      for (const j of ['[[]]', '[{}]', '{"0":"a"}', '"a"', '[' .repeat(100_000), JSON.stringify(Array.from({ length: 10_000 }, (_, i) => `i${i}`)), '["' + LONG + '"]'])
        add(`${slot.path} json ${j.slice(0, 12)}`, withParams(base, [[slot.path, j]]));
    }
  }

  // Whole-request garbage.
  const base = baseParams(action, ids);
  add('only RegionId', [['RegionId', REGION]]);
  add('nothing at all', []);
  for (const value of ['', 'x', LONG, 'cn-hangzhou\u0000', 'CN-HANGZHOU']) add(`RegionId=${value.slice(0, 12)}`, withParams(base, [['RegionId', value]]));
  const dups = [...base].map(([k]) => [k, 'dup'] as [string, string]);
  add('duplicate keys, junk last', [...base, ...dups]);
  add('duplicate keys, junk first', [...dups, ...base]);
  add('every required key twice, same value', [...base, ...base]);
  add('bad percent-encoding in the query', [...base], '&Junk=%ZZ');
  add('truncated percent-encoding in the query', [...base], '&Junk=%E2%82');
  add('percent-encoded key', [...base], '&%ZZ=1');
  for (const value of JUNK.filter((_, i) => i % 3 === 0)) {
    // Every declared top-level parameter junk at once.
    add(`all parameters = ${value.slice(0, 12)}`, withParams(base, Object.keys(action.params).filter((k) => k !== 'RegionId').map((k) => [k, value] as [string, string])));
  }
  if (action.mutating) {
    for (const token of ['t'.repeat(65), '\u00e9', '', 'tok\nen', LONG]) add(`ClientToken=${token.slice(0, 8)}`, withParams(base, [['ClientToken', token]]));
  } else {
    for (const flag of ['x', '', 'TRUE', '1']) add(`DryRun=${flag}`, withParams(base, [['DryRun', flag]]));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------

interface Outcome {
  readonly c: Case;
  readonly transport: string;
  readonly status: number;
  readonly text: string;
  readonly error?: string;
}

function problem(o: Outcome): string | undefined {
  if (o.error) return `request failed: ${o.error}`;
  let json: any;
  try {
    json = JSON.parse(o.text);
  } catch {
    return 'body is not JSON';
  }
  if (o.status >= 500) return `server error ${json.Code ?? ''}`;
  if (o.status === 200) {
    if (json.Code !== undefined) return 'success body carries Code';
    if (typeof json.RequestId !== 'string') return 'success body without RequestId';
    return undefined;
  }
  if (o.status < 400) return `unexpected status`;
  if (typeof json.Code !== 'string' || json.Code === '') return '4xx without Code';
  const keys = Object.keys(json).sort().join(',');
  if (keys !== 'Code,HostId,Message,Recommend,RequestId') return `envelope keys ${keys}`;
  return undefined;
}

function describeOutcome(o: Outcome): string {
  const params = o.c.params.map(([k, v]) => `${k}=${JSON.stringify(v.length > 40 ? v.slice(0, 40) + `…(${v.length})` : v)}`);
  const shown = params.length > 30 ? [...params.slice(0, 30), `…(${params.length} params)`] : params;
  return `${o.c.action.product}/${o.c.action.name} [${o.c.what}] via ${o.transport}: ${problem(o)} → HTTP ${o.status} ${o.text.slice(0, 300)}\n    params: ${shown.join(' ')}${o.c.rawSuffix ? ' raw:' + o.c.rawSuffix : ''}`;
}

async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}

describe('malformed input to every action', () => {
  let server: TestServer;
  let key: TestKey;
  const ids: Ids = new Map();

  function signed(c: Case, transport: number): { req: RawRequest; name: string } {
    const version = PRODUCTS[c.action.product].version;
    const params: Pairs = c.action.mutating && !c.params.some(([k]) => k === 'DryRun') ? [...c.params, ['DryRun', 'true']] : c.params;
    const host = server.endpoint;
    // Long values travel in a body as well as in the query; each transport parses differently.
    const kind = c.rawSuffix ? transport % 2 : transport % 3;
    if (kind === 0) {
      const req = signV3(key, { action: c.action.name, version, params, host });
      return { req: c.rawSuffix ? { ...req, path: req.path + c.rawSuffix } : req, name: 'V3 query' };
    }
    if (kind === 1) {
      const req = signV1(key, { action: c.action.name, version, params, host, method: 'GET' });
      return { req: c.rawSuffix ? { ...req, path: req.path + c.rawSuffix } : req, name: 'V1 GET' };
    }
    return { req: signV1(key, { action: c.action.name, version, params, host, method: 'POST', placement: 'split' }), name: 'V1 POST form (Terraform)' };
  }

  async function call(action: string, product: keyof typeof PRODUCTS, params: Record<string, string>): Promise<any> {
    const r = await send(server.endpoint, signV3(key, { action, version: PRODUCTS[product].version, params: { RegionId: REGION, ...params }, host: server.endpoint }));
    return r.json;
  }

  /** Collects string IDs (`…Id`, `…Ids: {X: [..]}`) and the EIP address from a response. */
  function harvest(value: unknown, key = ''): void {
    if (typeof value === 'string') {
      if (/Id$/.test(key) && key !== 'RequestId' && !ids.has(key)) ids.set(key, value);
      if (key === 'EipAddress' && !ids.has(key)) ids.set(key, value);
    } else if (Array.isArray(value)) {
      for (const v of value) harvest(v, key);
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) harvest(v, k);
    }
  }

  before(async () => {
    server = await startServer();
    key = server.key('fuzz');
    // Fixtures, best effort: an action another engineer has not registered yet is skipped.
    const has = (name: string) => ALL_ACTIONS.some((a) => a.name === name);
    const steps: [string, keyof typeof PRODUCTS, () => Record<string, string>][] = [
      ['CreateVpc', 'vpc', () => ({ CidrBlock: '10.0.0.0/16' })],
      ['CreateVSwitch', 'vpc', () => ({ VpcId: ids.get('VpcId')!, ZoneId: 'cn-hangzhou-h', CidrBlock: '10.0.1.0/24' })],
      ['CreateSecurityGroup', 'ecs', () => ({ VpcId: ids.get('VpcId')! })],
      ['AllocateEipAddress', 'vpc', () => ({})],
      ['CreateNatGateway', 'vpc', () => ({ VpcId: ids.get('VpcId')!, VSwitchId: ids.get('VSwitchId')!, NatType: 'Enhanced' })],
      ['CreateCommonBandwidthPackage', 'vpc', () => ({ Bandwidth: '10' })],
      ['CreatePublicIpAddressPool', 'vpc', () => ({ Name: 'fuzz-pool' })],
      ['CreateContainerGroup', 'eci', () => ({
        ContainerGroupName: 'fuzz', VSwitchId: ids.get('VSwitchId')!, SecurityGroupId: ids.get('SecurityGroupId')!,
        'Container.1.Name': 'fuzz-c', 'Container.1.Image': 'nginx:latest', Cpu: '1', Memory: '2',
      })],
    ];
    for (const [action, product, params] of steps) {
      if (!has(action)) continue;
      const r = await call(action, product, params());
      if (r?.Code) console.error(`malformed.test fixture ${action} failed: ${r.Code} ${r.Message}`);
      else harvest(r);
    }
  });
  after(async () => {
    closeConnections();
    await server.close();
  });

  it('answers every request with a 4xx envelope or a clean success, never a 5xx', async (t) => {
    const totalSlots = ALL_ACTIONS.reduce((n, a) => n + slotsOf(a.params).length, 0);
    const perSlot = Math.max(3, Math.min(JUNK.length, Math.floor(SLOT_BUDGET / Math.max(1, totalSlots))));
    const rotation = { n: 0 };
    const cases = ALL_ACTIONS.flatMap((a) => casesFor(a, ids, perSlot, rotation));
    const started = Date.now();
    const outcomes = await pool(cases, CONCURRENCY, async (c, i): Promise<Outcome> => {
      const { req, name } = signed(c, i);
      try {
        const r = await send(server.endpoint, req);
        return { c, transport: name, status: r.status, text: r.text };
      } catch (e) {
        return { c, transport: name, status: 0, text: '', error: e instanceof Error ? e.message : String(e) };
      }
    });
    const bad = outcomes.filter((o) => problem(o) !== undefined);
    const statuses = new Map<string, number>();
    for (const o of outcomes) {
      let code = '';
      try {
        code = JSON.parse(o.text).Code ?? '';
      } catch {}
      const k = `${o.status}${code ? ' ' + code : ''}`;
      statuses.set(k, (statuses.get(k) ?? 0) + 1);
    }
    t.diagnostic(
      `${outcomes.length} requests over ${ALL_ACTIONS.length} actions (${totalSlots} parameter slots, ${perSlot} junk values each) in ${Date.now() - started} ms; ` +
        `answers ${[...statuses].sort().map(([s, n]) => `${s} ×${n}`).join(', ')}; fixtures: ${[...ids.keys()].join(', ')}`,
    );
    assert.ok(outcomes.length >= ALL_ACTIONS.length * 10, 'the walk produced too few cases');
    // A lone process cannot have answered every request if it died on the way; check it still serves.
    assert.equal(server.process.exitCode, null, 'the server exited');
    assert.equal(
      bad.length,
      0,
      `${bad.length} of ${outcomes.length} answers were wrong (first 25):\n  ${bad.slice(0, 25).map(describeOutcome).join('\n  ')}`,
    );
  });

  it('still serves ordinary requests afterwards', async () => {
    const r = await call('DescribeVpcs', 'vpc', {});
    assert.equal(r.Code, undefined, JSON.stringify(r));
    assert.equal(typeof r.TotalCount, 'number');
  });
});
