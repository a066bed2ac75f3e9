// What the CLI derives from an action's parameter schema (src/core/params.ts): the `--help` listing,
// and strict checking of flag names. The strictness is the CLI's own, to catch typos before a request
// is sent; the server ignores unknown parameters, as the reference does.

import type { AnyAction } from '../api/action.ts';
import { flattenParams, type Fields, type Spec } from '../core/params.ts';
import { CliError } from './errors.ts';

/** Parameters every action takes besides its schema: the pipeline handles them. */
export function protocolParams(action: AnyAction): Fields {
  const out: Record<string, Spec> = {};
  if (!('RegionId' in action.params)) out.RegionId = { t: 'string', doc: 'defaults to the configured region' };
  if (action.mutating) {
    out.ClientToken = { t: 'string', max: 64, doc: 'idempotency token: a retry with the same token returns the first answer' };
    out.DryRun = { t: 'bool', doc: 'check the request without doing it (answers DryRunOperation)' };
  }
  return out;
}

export interface ParamRow {
  readonly name: string;
  readonly type: string;
  /** `yes`; `in item` when required inside an optional list item or struct; '' when optional. */
  readonly required: 'yes' | 'in item' | '';
  /** Enum values, default, range, and the schema's own words. */
  readonly notes: string;
}

function typeName(spec: Spec): string {
  switch (spec.t) {
    case 'string':
      return 'string';
    case 'enum':
      return 'enum';
    case 'int':
      return 'integer';
    case 'float':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'jsonList':
      return 'JSON list';
    case 'csv':
      return 'comma list';
    case 'list':
      return `list of ${typeName(spec.of)}`;
    case 'struct':
      return 'struct';
  }
}

function notesOf(spec: Spec): string {
  const notes: string[] = [];
  if (spec.t === 'enum') notes.push(`one of ${spec.values.join('|')}`);
  if ('default' in spec && spec.default !== undefined) notes.push(`default ${String(spec.default)}`);
  if (spec.t === 'int' || spec.t === 'float') {
    if (spec.min !== undefined && spec.max !== undefined) notes.push(`${spec.min}–${spec.max}`);
    else if (spec.min !== undefined) notes.push(`at least ${spec.min}`);
    else if (spec.max !== undefined) notes.push(`at most ${spec.max}`);
  }
  if (spec.t === 'string') {
    if (spec.min !== undefined && spec.max !== undefined) notes.push(`${spec.min}–${spec.max} chars`);
    else if (spec.max !== undefined) notes.push(`at most ${spec.max} chars`);
    if (spec.hint) notes.push(spec.hint);
  }
  if ((spec.t === 'list' || spec.t === 'jsonList' || spec.t === 'csv') && spec.max !== undefined) notes.push(`at most ${spec.max} items`);
  if (spec.t === 'jsonList') notes.push(`e.g. '["a","b"]'`);
  if (spec.doc) notes.push(spec.doc);
  return notes.join('; ');
}

/**
 * Flattens a schema to one row per leaf, with `.N` for list indices (`Container.N.Port.N.Protocol`).
 * A leaf is required outright only when every level above it is required too.
 */
export function paramRows(fields: Fields, prefix = '', parentsRequired = true): ParamRow[] {
  const rows: ParamRow[] = [];
  const required = (spec: Spec): ParamRow['required'] => (spec.required !== true ? '' : parentsRequired ? 'yes' : 'in item');
  for (const [name, spec] of Object.entries(fields)) {
    const full = prefix + name;
    const inside = parentsRequired && spec.required === true;
    if (spec.t === 'struct') {
      rows.push(...paramRows(spec.fields, full + '.', inside));
    } else if (spec.t === 'list' && spec.of.t === 'struct') {
      rows.push(...paramRows(spec.of.fields, `${full}.N.`, inside));
    } else if (spec.t === 'list') {
      const notes = [notesOf(spec.of), spec.max !== undefined ? `at most ${spec.max} items` : '', spec.doc ?? ''].filter(Boolean).join('; ');
      rows.push({ name: `${full}.N`, type: typeName(spec.of), required: required(spec), notes });
    } else {
      rows.push({ name: full, type: typeName(spec), required: required(spec), notes: notesOf(spec) });
    }
  }
  return rows;
}

function suggest(name: string, candidates: readonly string[]): string {
  const hit = candidates.find((c) => c.toLowerCase() === name.toLowerCase());
  return hit ? ` Did you mean ${hit}?` : '';
}

/**
 * Checks one flag name against the schema, segment by segment (`Container.1.Port.2.Port`), and
 * returns the parameter's spec. Throws a CLI error naming the known parameters at the failing level.
 */
export function checkFlagName(action: AnyAction, flag: string): Spec {
  const top: Fields = { ...action.params, ...protocolParams(action) };
  const segments = flag.split('.');
  const head = segments[0];
  if (!(head in top)) {
    const names = Object.keys(top).sort();
    throw new CliError(
      `unknown parameter --${flag} for ${action.product} ${action.name}.${suggest(head, names)} Its parameters: ${names.join(', ')} ` +
        `(\`eci ${action.product} ${action.name} --help\` describes them)`,
    );
  }
  let spec: Spec = top[head];
  let path = head;
  for (const seg of segments.slice(1)) {
    if (spec.t === 'list') {
      if (!/^[1-9]\d{0,5}$/.test(seg)) throw new CliError(`--${flag}: ${path} is a list; write ${path}.1, ${path}.2, … (indices start at 1)`);
      spec = spec.of;
    } else if (spec.t === 'struct') {
      if (!(seg in spec.fields)) {
        const names = Object.keys(spec.fields);
        throw new CliError(`--${flag}: ${path} has no field "${seg}".${suggest(seg, names)} Its fields: ${names.join(', ')}`);
      }
      spec = spec.fields[seg];
    } else {
      throw new CliError(`--${flag}: ${path} is a single value (${typeName(spec)}), it has no "${seg}"`);
    }
    path += '.' + seg;
  }
  return spec;
}

/**
 * Flag pairs → the flat wire map, after checking every name. A list or struct parameter may also be
 * given whole as JSON (`--Container '[{"Name":"web","Image":"nginx"}]'`); it is flattened here.
 */
export function wireParams(action: AnyAction, flags: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of flags) {
    const spec = checkFlagName(action, name);
    if ((spec.t === 'list' || spec.t === 'struct') && /^\s*[[{]/.test(value)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch (e) {
        throw new CliError(`--${name}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
      }
      if (spec.t === 'list' && !Array.isArray(parsed)) throw new CliError(`--${name}: expected a JSON array`);
      if (spec.t === 'struct' && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))) throw new CliError(`--${name}: expected a JSON object`);
      for (const [k, v] of flattenParams({ [name]: parsed })) out.set(k, v);
    } else {
      out.set(name, value);
    }
  }
  return out;
}
