// Request parameters of the reference OpenAPI arrive flat: `Container.1.Port.2.Port=80`,
// `Tag.3.Key=env`, or as JSON strings (`ContainerGroupIds=["eci-…"]`). Each action declares a schema
// built from the constructors below; `parseParams` unflattens the wire map against it and returns a
// typed value, or throws the reference's error (`MissingParameter`, `InvalidParameter`, or the field's
// own `Invalid<Name>.Malformed`). Names the schema does not know are ignored, as the reference does.
//
// Why not a general validation library: the wire format (1-based flattened indices, every value a
// string, per-field error codes) is specific to this API, and the same schema also drives the CLI's
// flags and the typed client. The schema is data, so all three derive from one declaration.

import { ApiError, invalid, missingParameter } from './errors.ts';

interface Base<K extends string> {
  readonly t: K;
  readonly required?: boolean;
  /** Error code for a malformed value; defaults to InvalidParameter. */
  readonly code?: string;
  readonly doc?: string;
}
export interface StringSpec extends Base<'string'> {
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: RegExp;
  /** Says in words what the pattern allows, for the error message. */
  readonly hint?: string;
  readonly default?: string;
}
export interface EnumSpec<V extends string = string> extends Base<'enum'> {
  readonly values: readonly V[];
  readonly caseInsensitive?: boolean;
  readonly default?: V;
}
export interface IntSpec extends Base<'int'> {
  readonly min?: number;
  readonly max?: number;
  readonly default?: number;
}
export interface FloatSpec extends Base<'float'> {
  readonly min?: number;
  readonly max?: number;
  readonly default?: number;
}
export interface BoolSpec extends Base<'bool'> {
  readonly default?: boolean;
}
export interface ListSpec<S extends Spec = Spec> extends Base<'list'> {
  readonly of: S;
  readonly max?: number;
}
export interface StructSpec<F extends Fields = Fields> extends Base<'struct'> {
  readonly fields: F;
}
/** A JSON-encoded array of strings in one parameter (`ContainerGroupIds`, `Command`). */
export interface JsonListSpec extends Base<'jsonList'> {
  readonly max?: number;
  readonly itemMax?: number;
}
/** A comma-separated list in one parameter (`VSwitchId=vsw-a,vsw-b`, `SnatIp=a,b`). */
export interface CsvSpec extends Base<'csv'> {
  readonly max?: number;
  readonly pattern?: RegExp;
}

export type Spec =
  | StringSpec
  | EnumSpec
  | IntSpec
  | FloatSpec
  | BoolSpec
  | ListSpec<any>
  | StructSpec<any>
  | JsonListSpec
  | CsvSpec;
export type Fields = { readonly [name: string]: Spec };

type Req<S, T> = S extends { required: true } ? T : S extends { default: any } ? T : T | undefined;

export type Infer<S> = S extends EnumSpec<infer V>
  ? V
  : S extends StringSpec
    ? string
    : S extends IntSpec | FloatSpec
      ? number
      : S extends BoolSpec
        ? boolean
        : S extends ListSpec<infer O>
          ? Infer<O>[]
          : S extends StructSpec<infer F>
            ? InferFields<F>
            : S extends JsonListSpec | CsvSpec
              ? string[]
              : never;

export type InferFields<F extends Fields> = { -readonly [K in keyof F]: Req<F[K], Infer<F[K]>> };

// Constructors. `as const` on options keeps `required: true` literal so Infer can see it.
export const p = {
  string: <const O extends Omit<StringSpec, 't'>>(o?: O) => ({ t: 'string', ...o }) as { t: 'string' } & O,
  enum: <const V extends string, const O extends Omit<EnumSpec<V>, 't' | 'values'>>(values: readonly V[], o?: O) =>
    ({ t: 'enum', values, ...o }) as { t: 'enum'; values: readonly V[] } & O,
  int: <const O extends Omit<IntSpec, 't'>>(o?: O) => ({ t: 'int', ...o }) as { t: 'int' } & O,
  float: <const O extends Omit<FloatSpec, 't'>>(o?: O) => ({ t: 'float', ...o }) as { t: 'float' } & O,
  bool: <const O extends Omit<BoolSpec, 't'>>(o?: O) => ({ t: 'bool', ...o }) as { t: 'bool' } & O,
  list: <S extends Spec, const O extends Omit<ListSpec<S>, 't' | 'of'>>(of: S, o?: O) =>
    ({ t: 'list', of, ...o }) as { t: 'list'; of: S } & O,
  struct: <F extends Fields, const O extends Omit<StructSpec<F>, 't' | 'fields'>>(fields: F, o?: O) =>
    ({ t: 'struct', fields, ...o }) as { t: 'struct'; fields: F } & O,
  jsonList: <const O extends Omit<JsonListSpec, 't'>>(o?: O) => ({ t: 'jsonList', ...o }) as { t: 'jsonList' } & O,
  csv: <const O extends Omit<CsvSpec, 't'>>(o?: O) => ({ t: 'csv', ...o }) as { t: 'csv' } & O,
};

/** The common `Tag.N.Key/Value` parameter (at most 20 tags). */
export const tagsParam = p.list(p.struct({ Key: p.string({ required: true, max: 128 }), Value: p.string({ max: 128 }) }), {
  max: 20,
});

// ---------------------------------------------------------------------------------------------------
// Unflattening: the flat wire map becomes a tree of nodes. A node has an optional scalar value and
// children keyed by the next name segment.

interface Node {
  value?: string;
  children?: Map<string, Node>;
}

function buildTree(flat: ReadonlyMap<string, string>, top: Fields): Node {
  const root: Node = { children: new Map() };
  for (const [key, value] of flat) {
    const dot = key.indexOf('.');
    const head = dot < 0 ? key : key.slice(0, dot);
    if (!(head in top)) continue; // unknown parameters are ignored, as the reference does
    let node = root;
    for (const seg of key.split('.')) {
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = {}));
      node = next;
    }
    node.value = value;
  }
  return root;
}

const INT = /^-?\d+$/;
const FLOAT = /^-?(\d+\.?\d*|\.\d+)$/;

function malformed(spec: Spec, name: string, why: string): ApiError {
  if (spec.code) return invalid(spec.code, `The specified ${name} is malformed: ${why}.`);
  return invalid('InvalidParameter', `Specified value of "${name}" is not valid: ${why}.`);
}

function parseNode(spec: Spec, node: Node | undefined, name: string): unknown {
  const present = node !== undefined && (node.value !== undefined || (node.children?.size ?? 0) > 0);
  if (!present || (node!.value === '' && spec.t !== 'string' && spec.t !== 'struct' && spec.t !== 'list')) {
    if (spec.required) throw missingParameter(name);
    return 'default' in spec ? spec.default : undefined;
  }
  const n = node!;
  const raw = n.value;
  switch (spec.t) {
    case 'string': {
      if (raw === undefined) throw malformed(spec, name, 'expected a single value');
      if (raw === '' && spec.required) throw missingParameter(name);
      if (spec.min !== undefined && raw.length < spec.min) throw malformed(spec, name, `shorter than ${spec.min}`);
      if (spec.max !== undefined && raw.length > spec.max) throw malformed(spec, name, `longer than ${spec.max}`);
      if (spec.pattern && !spec.pattern.test(raw)) throw malformed(spec, name, spec.hint ?? 'it has characters or a form this field does not allow');
      return raw;
    }
    case 'enum': {
      if (raw === undefined) throw malformed(spec, name, 'expected a single value');
      const hit = spec.caseInsensitive
        ? spec.values.find((v) => v.toLowerCase() === raw.toLowerCase())
        : spec.values.find((v) => v === raw);
      if (hit === undefined) throw malformed(spec, name, `must be one of ${spec.values.join(', ')}`);
      return hit;
    }
    case 'int':
    case 'float': {
      if (raw === undefined) throw malformed(spec, name, 'expected a single value');
      const ok = spec.t === 'int' ? INT.test(raw) : FLOAT.test(raw);
      const v = Number(raw);
      if (!ok || !Number.isFinite(v)) throw malformed(spec, name, `expected ${spec.t === 'int' ? 'an integer' : 'a number'}`);
      if (spec.min !== undefined && v < spec.min) throw malformed(spec, name, `must be at least ${spec.min}`);
      if (spec.max !== undefined && v > spec.max) throw malformed(spec, name, `must be at most ${spec.max}`);
      return v;
    }
    case 'bool': {
      const v = raw?.toLowerCase();
      if (v === 'true') return true;
      if (v === 'false') return false;
      throw malformed(spec, name, 'expected true or false');
    }
    case 'jsonList': {
      if (raw === undefined) throw malformed(spec, name, 'expected a JSON array');
      let arr: unknown;
      try {
        arr = JSON.parse(raw);
      } catch {
        throw malformed(spec, name, 'expected a JSON array of strings');
      }
      if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'string'))
        throw malformed(spec, name, 'expected a JSON array of strings');
      if (spec.max !== undefined && arr.length > spec.max) throw malformed(spec, name, `at most ${spec.max} items`);
      if (spec.itemMax !== undefined && arr.some((x: string) => x.length > spec.itemMax!))
        throw malformed(spec, name, `items of at most ${spec.itemMax} characters`);
      if (spec.required && arr.length === 0) throw missingParameter(name);
      return arr;
    }
    case 'csv': {
      if (raw === undefined) throw malformed(spec, name, 'expected a comma-separated list');
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (spec.required && items.length === 0) throw missingParameter(name);
      if (spec.max !== undefined && items.length > spec.max) throw malformed(spec, name, `at most ${spec.max} items`);
      if (spec.pattern && items.some((i) => !spec.pattern!.test(i))) throw malformed(spec, name, `items must match ${spec.pattern.source}`);
      return items;
    }
    case 'list': {
      if (raw !== undefined && (n.children?.size ?? 0) === 0) throw malformed(spec, name, `expected ${name}.N`);
      const entries: [number, Node][] = [];
      for (const [seg, child] of n.children ?? []) {
        if (!/^[1-9]\d{0,5}$/.test(seg)) throw invalid('InvalidParameter', `"${name}.${seg}" is not valid: list indices start at 1.`);
        entries.push([Number(seg), child]);
      }
      entries.sort((a, b) => a[0] - b[0]);
      if (spec.max !== undefined && entries.length > spec.max)
        throw malformed(spec, name, `at most ${spec.max} items`);
      return entries.map(([i, child]) => parseNode(spec.of, child, `${name}.${i}`));
    }
    case 'struct': {
      if (raw !== undefined && raw !== '' && (n.children?.size ?? 0) === 0) throw malformed(spec, name, `expected ${name}.<Field>`);
      return parseFields(spec.fields, n, name + '.');
    }
  }
}

function parseFields(fields: Fields, node: Node, prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(fields)) {
    const v = parseNode(fields[key], node.children?.get(key), prefix + key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Parses a flat wire map against an action's schema. Throws ApiError with the reference's codes. */
export function parseParams<F extends Fields>(fields: F, flat: ReadonlyMap<string, string>): InferFields<F> {
  return parseFields(fields, buildTree(flat, fields), '') as InferFields<F>;
}

/** The inverse of parseParams: flattens a value to wire keys (used by the client and the CLI). */
export function flattenParams(value: Record<string, unknown>, prefix = '', out = new Map<string, string>()): Map<string, string> {
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || v === null) continue;
    const key = prefix + k;
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        if (item !== null && typeof item === 'object') flattenParams(item as Record<string, unknown>, `${key}.${i + 1}.`, out);
        else out.set(`${key}.${i + 1}`, String(item));
      });
    } else if (typeof v === 'object') {
      flattenParams(v as Record<string, unknown>, key + '.', out);
    } else {
      out.set(key, String(v));
    }
  }
  return out;
}
