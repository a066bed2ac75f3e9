// Table tests of the parameter schema: parseParams unflattens wire maps and validates them with the
// reference's error codes; flattenParams is its inverse (the client and the CLI use it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/core/errors.ts';
import { flattenParams, p, parseParams, tagsParam, type Fields } from '../../src/core/params.ts';

const wire = (o: Record<string, string> | [string, string][]) => new Map(Array.isArray(o) ? o : Object.entries(o));

function fails(fields: Fields, input: Record<string, string>): ApiError {
  try {
    parseParams(fields, wire(input));
  } catch (e) {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.equal(e.kind, 'InvalidInput');
    return e;
  }
  assert.fail(`expected ${JSON.stringify(input)} to be refused`);
}

interface Case {
  name: string;
  fields: Fields;
  input: Record<string, string> | [string, string][];
  /** The parsed value, or the error code (and optionally a fragment of the message). */
  want: Record<string, unknown> | { code: string; message?: RegExp };
}

const isError = (w: Case['want']): w is { code: string; message?: RegExp } => typeof (w as { code?: unknown }).code === 'string' && Object.keys(w).every((k) => k === 'code' || k === 'message');

const CASES: Case[] = [
  // string
  { name: 'string passes through', fields: { A: p.string() }, input: { A: 'x y' }, want: { A: 'x y' } },
  { name: 'absent optional string is left out', fields: { A: p.string() }, input: {}, want: {} },
  { name: 'empty optional string is kept', fields: { A: p.string() }, input: { A: '' }, want: { A: '' } },
  { name: 'string default', fields: { A: p.string({ default: 'd' }) }, input: {}, want: { A: 'd' } },
  { name: 'required string missing', fields: { A: p.string({ required: true }) }, input: {}, want: { code: 'MissingParameter', message: /"A"/ } },
  { name: 'required string empty', fields: { A: p.string({ required: true }) }, input: { A: '' }, want: { code: 'MissingParameter' } },
  { name: 'string too long', fields: { A: p.string({ max: 3 }) }, input: { A: 'abcd' }, want: { code: 'InvalidParameter', message: /"A"/ } },
  { name: 'string at max', fields: { A: p.string({ max: 3 }) }, input: { A: 'abc' }, want: { A: 'abc' } },
  { name: 'string too short', fields: { A: p.string({ min: 2 }) }, input: { A: 'a' }, want: { code: 'InvalidParameter' } },
  { name: 'string pattern ok', fields: { A: p.string({ pattern: /^[a-z]+$/ }) }, input: { A: 'abc' }, want: { A: 'abc' } },
  { name: 'string pattern miss', fields: { A: p.string({ pattern: /^[a-z]+$/ }) }, input: { A: 'ab1' }, want: { code: 'InvalidParameter' } },
  { name: "string pattern miss uses the field's code", fields: { A: p.string({ pattern: /^[a-z]+$/, code: 'InvalidA.Malformed' }) }, input: { A: 'A' }, want: { code: 'InvalidA.Malformed' } },
  { name: "string too long uses the field's code", fields: { A: p.string({ max: 1, code: 'InvalidA.Malformed' }) }, input: { A: 'ab' }, want: { code: 'InvalidA.Malformed' } },
  { name: 'hint is in the message', fields: { A: p.string({ pattern: /^x$/, hint: 'only the letter x' }) }, input: { A: 'y' }, want: { code: 'InvalidParameter', message: /only the letter x/ } },
  { name: 'string given as a struct', fields: { A: p.string() }, input: { 'A.1': 'x' }, want: { code: 'InvalidParameter' } },
  { name: 'string length counts UTF-16 units of unicode', fields: { A: p.string({ max: 2 }) }, input: { A: 'éé' }, want: { A: 'éé' } },

  // enum
  { name: 'enum value', fields: { A: p.enum(['TCP', 'UDP']) }, input: { A: 'UDP' }, want: { A: 'UDP' } },
  { name: 'enum is case-sensitive by default', fields: { A: p.enum(['TCP', 'UDP']) }, input: { A: 'tcp' }, want: { code: 'InvalidParameter', message: /TCP, UDP/ } },
  { name: 'enum case-insensitive returns the canonical spelling', fields: { A: p.enum(['TCP', 'UDP'], { caseInsensitive: true }) }, input: { A: 'tcp' }, want: { A: 'TCP' } },
  { name: 'enum default', fields: { A: p.enum(['a', 'b'], { default: 'b' }) }, input: {}, want: { A: 'b' } },
  { name: 'enum empty means absent', fields: { A: p.enum(['a', 'b'], { default: 'b' }) }, input: { A: '' }, want: { A: 'b' } },
  { name: 'enum required empty', fields: { A: p.enum(['a'], { required: true }) }, input: { A: '' }, want: { code: 'MissingParameter' } },
  { name: "enum miss uses the field's code", fields: { A: p.enum(['a'], { code: 'InvalidProtocal.ValueNotSupported' }) }, input: { A: 'z' }, want: { code: 'InvalidProtocal.ValueNotSupported' } },

  // int
  { name: 'int', fields: { A: p.int() }, input: { A: '42' }, want: { A: 42 } },
  { name: 'negative int', fields: { A: p.int() }, input: { A: '-7' }, want: { A: -7 } },
  { name: 'int with a fraction', fields: { A: p.int() }, input: { A: '1.5' }, want: { code: 'InvalidParameter' } },
  { name: 'int in exponent form', fields: { A: p.int() }, input: { A: '1e3' }, want: { code: 'InvalidParameter' } },
  { name: 'int with spaces', fields: { A: p.int() }, input: { A: ' 1' }, want: { code: 'InvalidParameter' } },
  { name: 'int hex', fields: { A: p.int() }, input: { A: '0x10' }, want: { code: 'InvalidParameter' } },
  { name: 'int word', fields: { A: p.int() }, input: { A: 'ten' }, want: { code: 'InvalidParameter' } },
  { name: 'int below min', fields: { A: p.int({ min: 1 }) }, input: { A: '0' }, want: { code: 'InvalidParameter', message: /at least 1/ } },
  { name: 'int above max', fields: { A: p.int({ max: 10 }) }, input: { A: '11' }, want: { code: 'InvalidParameter', message: /at most 10/ } },
  { name: 'int at bounds', fields: { A: p.int({ min: 1, max: 10 }), B: p.int({ min: 1, max: 10 }) }, input: { A: '1', B: '10' }, want: { A: 1, B: 10 } },
  { name: 'int default', fields: { A: p.int({ default: 5 }) }, input: {}, want: { A: 5 } },
  { name: 'int empty means absent', fields: { A: p.int({ default: 5 }) }, input: { A: '' }, want: { A: 5 } },
  { name: 'int required missing', fields: { A: p.int({ required: true }) }, input: {}, want: { code: 'MissingParameter' } },
  { name: "int uses the field's code", fields: { A: p.int({ max: 65535, code: 'InvalidExternalPort.Malformed' }) }, input: { A: '70000' }, want: { code: 'InvalidExternalPort.Malformed' } },

  // float
  { name: 'float', fields: { A: p.float() }, input: { A: '0.5' }, want: { A: 0.5 } },
  { name: 'float without leading digit', fields: { A: p.float() }, input: { A: '.25' }, want: { A: 0.25 } },
  { name: 'float integer', fields: { A: p.float() }, input: { A: '2' }, want: { A: 2 } },
  { name: 'float NaN', fields: { A: p.float() }, input: { A: 'NaN' }, want: { code: 'InvalidParameter' } },
  { name: 'float Infinity', fields: { A: p.float() }, input: { A: 'Infinity' }, want: { code: 'InvalidParameter' } },
  { name: 'float huge exponent', fields: { A: p.float() }, input: { A: '1e999' }, want: { code: 'InvalidParameter' } },
  { name: 'float too many digits overflows to Infinity', fields: { A: p.float() }, input: { A: '9'.repeat(400) }, want: { code: 'InvalidParameter' } },
  { name: 'float below min', fields: { A: p.float({ min: 0.25 }) }, input: { A: '0.1' }, want: { code: 'InvalidParameter' } },

  // bool
  { name: 'bool true', fields: { A: p.bool() }, input: { A: 'true' }, want: { A: true } },
  { name: 'bool is case-insensitive', fields: { A: p.bool(), B: p.bool() }, input: { A: 'TRUE', B: 'False' }, want: { A: true, B: false } },
  { name: 'bool 1 is not a bool', fields: { A: p.bool() }, input: { A: '1' }, want: { code: 'InvalidParameter' } },
  { name: 'bool default', fields: { A: p.bool({ default: false }) }, input: {}, want: { A: false } },
  { name: 'bool empty means absent', fields: { A: p.bool({ default: true }) }, input: { A: '' }, want: { A: true } },

  // list
  { name: 'list of strings in index order', fields: { A: p.list(p.string()) }, input: [['A.2', 'b'], ['A.1', 'a'], ['A.10', 'j']], want: { A: ['a', 'b', 'j'] } },
  { name: 'list with index gaps keeps order, drops the gaps', fields: { A: p.list(p.string()) }, input: { 'A.3': 'c', 'A.7': 'g' }, want: { A: ['c', 'g'] } },
  { name: 'list absent', fields: { A: p.list(p.string()) }, input: {}, want: {} },
  { name: 'required list absent', fields: { A: p.list(p.string(), { required: true }) }, input: {}, want: { code: 'MissingParameter' } },
  { name: 'list index 0', fields: { A: p.list(p.string()) }, input: { 'A.0': 'x' }, want: { code: 'InvalidParameter', message: /A\.0/ } },
  { name: 'list index not a number', fields: { A: p.list(p.string()) }, input: { 'A.x': 'x' }, want: { code: 'InvalidParameter' } },
  { name: 'list index with leading zero', fields: { A: p.list(p.string()) }, input: { 'A.01': 'x' }, want: { code: 'InvalidParameter' } },
  { name: 'list index huge', fields: { A: p.list(p.string()) }, input: { 'A.99999999999999999999': 'x' }, want: { code: 'InvalidParameter' } },
  { name: 'list given as a scalar', fields: { A: p.list(p.string()) }, input: { A: 'x' }, want: { code: 'InvalidParameter', message: /A\.N/ } },
  { name: 'list over max', fields: { A: p.list(p.string(), { max: 2 }) }, input: { 'A.1': 'a', 'A.2': 'b', 'A.3': 'c' }, want: { code: 'InvalidParameter', message: /at most 2/ } },
  { name: 'list at max', fields: { A: p.list(p.string(), { max: 2 }) }, input: { 'A.1': 'a', 'A.2': 'b' }, want: { A: ['a', 'b'] } },
  { name: 'list item validated with its indexed name', fields: { A: p.list(p.int()) }, input: { 'A.1': '1', 'A.2': 'x' }, want: { code: 'InvalidParameter', message: /"A\.2"/ } },
  { name: 'list item element given as struct', fields: { A: p.list(p.string()) }, input: { 'A.1.B': 'x' }, want: { code: 'InvalidParameter' } },

  // struct and nesting
  { name: 'struct', fields: { S: p.struct({ X: p.int(), Y: p.string() }) }, input: { 'S.X': '1', 'S.Y': 'y' }, want: { S: { X: 1, Y: 'y' } } },
  { name: 'struct absent is left out', fields: { S: p.struct({ X: p.int() }) }, input: {}, want: {} },
  { name: 'required struct absent', fields: { S: p.struct({ X: p.int() }, { required: true }) }, input: {}, want: { code: 'MissingParameter', message: /"S"/ } },
  { name: 'struct required field missing names the path', fields: { S: p.struct({ X: p.int({ required: true }) }) }, input: { 'S.Y': '1' }, want: { code: 'MissingParameter', message: /"S\.X"/ } },
  { name: 'struct given as a scalar', fields: { S: p.struct({ X: p.int() }) }, input: { S: 'x' }, want: { code: 'InvalidParameter' } },
  {
    name: 'nested struct in list, list in struct in list',
    fields: { C: p.list(p.struct({ Name: p.string({ required: true }), Port: p.list(p.struct({ Port: p.int({ min: 1, max: 65535 }), Protocol: p.enum(['TCP', 'UDP'], { default: 'TCP' }) })) })) },
    input: { 'C.2.Name': 'b', 'C.1.Name': 'a', 'C.1.Port.2.Port': '443', 'C.1.Port.1.Port': '80', 'C.1.Port.1.Protocol': 'UDP' },
    want: { C: [{ Name: 'a', Port: [{ Port: 80, Protocol: 'UDP' }, { Port: 443, Protocol: 'TCP' }] }, { Name: 'b' }] },
  },
  {
    name: 'error deep in a nested list names the full path',
    fields: { C: p.list(p.struct({ Port: p.list(p.struct({ Port: p.int({ max: 65535 }) })) })) },
    input: { 'C.1.Port.3.Port': '70000' },
    want: { code: 'InvalidParameter', message: /"C\.1\.Port\.3\.Port"/ },
  },
  { name: 'required field of a list item', fields: { C: p.list(p.struct({ Name: p.string({ required: true }) })) }, input: { 'C.1.Other': 'x' }, want: { code: 'MissingParameter', message: /"C\.1\.Name"/ } },

  // jsonList
  { name: 'jsonList', fields: { J: p.jsonList() }, input: { J: '["a","b"]' }, want: { J: ['a', 'b'] } },
  { name: 'jsonList empty array', fields: { J: p.jsonList() }, input: { J: '[]' }, want: { J: [] } },
  { name: 'jsonList required empty array', fields: { J: p.jsonList({ required: true }) }, input: { J: '[]' }, want: { code: 'MissingParameter' } },
  { name: 'jsonList not JSON', fields: { J: p.jsonList() }, input: { J: '[' }, want: { code: 'InvalidParameter', message: /JSON array/ } },
  { name: 'jsonList an object', fields: { J: p.jsonList() }, input: { J: '{"a":1}' }, want: { code: 'InvalidParameter' } },
  { name: 'jsonList of numbers', fields: { J: p.jsonList() }, input: { J: '[1,2]' }, want: { code: 'InvalidParameter' } },
  { name: 'jsonList of objects', fields: { J: p.jsonList() }, input: { J: '[{"a":1}]' }, want: { code: 'InvalidParameter' } },
  { name: 'jsonList a JSON string', fields: { J: p.jsonList() }, input: { J: '"a"' }, want: { code: 'InvalidParameter' } },
  { name: 'jsonList null', fields: { J: p.jsonList() }, input: { J: 'null' }, want: { code: 'InvalidParameter' } },
  { name: 'jsonList over max', fields: { J: p.jsonList({ max: 1 }) }, input: { J: '["a","b"]' }, want: { code: 'InvalidParameter', message: /at most 1/ } },
  { name: 'jsonList item too long', fields: { J: p.jsonList({ itemMax: 2 }) }, input: { J: '["abc"]' }, want: { code: 'InvalidParameter' } },
  { name: "jsonList uses the field's code", fields: { J: p.jsonList({ code: 'InvalidJ.Malformed' }) }, input: { J: 'x' }, want: { code: 'InvalidJ.Malformed' } },
  { name: 'jsonList given as J.1', fields: { J: p.jsonList() }, input: { 'J.1': 'a' }, want: { code: 'InvalidParameter' } },

  // csv
  { name: 'csv trims and drops empty items', fields: { V: p.csv() }, input: { V: ' a, b,,c ,' }, want: { V: ['a', 'b', 'c'] } },
  { name: 'csv single', fields: { V: p.csv() }, input: { V: 'a' }, want: { V: ['a'] } },
  { name: 'csv empty means absent', fields: { V: p.csv() }, input: { V: '' }, want: {} },
  { name: 'csv of only commas', fields: { V: p.csv() }, input: { V: ',,' }, want: { V: [] } },
  { name: 'csv required of only commas', fields: { V: p.csv({ required: true }) }, input: { V: ',,' }, want: { code: 'MissingParameter' } },
  { name: 'csv over max', fields: { V: p.csv({ max: 2 }) }, input: { V: 'a,b,c' }, want: { code: 'InvalidParameter' } },
  { name: 'csv pattern', fields: { V: p.csv({ pattern: /^vsw-/ }) }, input: { V: 'vsw-a,x' }, want: { code: 'InvalidParameter' } },
  { name: "csv uses the field's code", fields: { V: p.csv({ pattern: /^\d+$/, code: 'InvalidSnatIp.Malformed' }) }, input: { V: '1,a' }, want: { code: 'InvalidSnatIp.Malformed' } },

  // the whole map
  { name: 'unknown parameters are ignored', fields: { A: p.string() }, input: { A: 'a', B: 'b', 'C.1.D': 'x', 'A2': 'z' }, want: { A: 'a' } },
  { name: 'unknown sub-fields of a struct are ignored', fields: { S: p.struct({ X: p.int() }) }, input: { 'S.X': '1', 'S.Z': 'z' }, want: { S: { X: 1 } } },
  { name: 'a later duplicate key wins', fields: { A: p.string() }, input: [['A', 'first'], ['A', 'second']], want: { A: 'second' } },
  { name: 'a key with a trailing dot', fields: { A: p.list(p.string()) }, input: { 'A.': 'x' }, want: { code: 'InvalidParameter' } },

  // the common Tag parameter
  { name: 'tags', fields: { Tag: tagsParam }, input: { 'Tag.1.Key': 'k', 'Tag.1.Value': 'v', 'Tag.2.Key': 'k2' }, want: { Tag: [{ Key: 'k', Value: 'v' }, { Key: 'k2' }] } },
  { name: 'tag without a key', fields: { Tag: tagsParam }, input: { 'Tag.1.Value': 'v' }, want: { code: 'MissingParameter', message: /Tag\.1\.Key/ } },
  { name: 'tag key of 129 characters', fields: { Tag: tagsParam }, input: { 'Tag.1.Key': 'k'.repeat(129) }, want: { code: 'InvalidParameter' } },
  { name: '21 tags', fields: { Tag: tagsParam }, input: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`Tag.${i + 1}.Key`, `k${i}`])), want: { code: 'InvalidParameter' } },
  { name: 'Tag.1 as a scalar', fields: { Tag: tagsParam }, input: { 'Tag.1': 'x' }, want: { code: 'InvalidParameter' } },
];

describe('parseParams', () => {
  for (const c of CASES) {
    it(c.name, () => {
      if (isError(c.want)) {
        const e = fails(c.fields, Object.fromEntries(Array.isArray(c.input) ? c.input : Object.entries(c.input)));
        // Duplicate keys are collapsed by Object.fromEntries the same way a Map does, so this is faithful.
        assert.equal(e.code, c.want.code, `${c.name}: ${e.message}`);
        if (c.want.message) assert.match(e.message, c.want.message);
      } else {
        assert.deepEqual(parseParams(c.fields, wire(c.input)), c.want);
      }
    });
  }

  it('never throws anything but ApiError on junk, whatever the spec type', () => {
    const specs: Fields = {
      S: p.string({ max: 5, pattern: /^a/ }),
      E: p.enum(['a']),
      I: p.int({ min: 0, max: 9 }),
      F: p.float(),
      B: p.bool(),
      L: p.list(p.struct({ K: p.string({ required: true }) }), { max: 2 }),
      T: p.struct({ X: p.list(p.int()) }),
      J: p.jsonList({ max: 1 }),
      C: p.csv({ max: 1 }),
    };
    const junk = ['', 'x', '-1', '1e999', '99999999999999999999', '[', '{"a":', '[{"a":{}}]', 'é😀', 'x'.repeat(5000), '\0', '__proto__', 'constructor'];
    const suffixes = ['', '.1', '.0', '.x', '.1.K', '.1.K.1', '.__proto__', '.constructor', '.1.__proto__', '.X.1', '.X.y'];
    for (const name of Object.keys(specs))
      for (const suffix of suffixes)
        for (const value of junk) {
          try {
            parseParams(specs, wire({ [name + suffix]: value }));
          } catch (e) {
            assert.ok(e instanceof ApiError, `${name}${suffix}=${JSON.stringify(value.slice(0, 20))} threw ${String(e)}`);
          }
        }
  });

  it('a __proto__ key does not pollute the result', () => {
    const out = parseParams({ S: p.struct({ X: p.string() }) }, wire([['S.__proto__', 'x'], ['S.X', 'v'], ['__proto__', 'y'], ['constructor', 'z'], ['toString', 't']])) as Record<string, any>;
    assert.deepEqual(out, { S: { X: 'v' } });
    assert.equal(({} as Record<string, unknown>).X, undefined);
  });
});

describe('flattenParams', () => {
  const cases: [string, Record<string, unknown>, [string, string][]][] = [
    ['scalars', { A: 'a', N: 1.5, B: false }, [['A', 'a'], ['N', '1.5'], ['B', 'false']]],
    ['undefined and null are left out', { A: undefined, B: null, C: '' }, [['C', '']]],
    ['list of scalars is 1-based', { L: ['x', 'y'] }, [['L.1', 'x'], ['L.2', 'y']]],
    ['struct', { S: { X: 1, Y: 'y' } }, [['S.X', '1'], ['S.Y', 'y']]],
    [
      'list of structs with nested lists',
      { C: [{ Name: 'a', Port: [{ Port: 80 }, { Port: 443, Protocol: 'TCP' }] }, { Name: 'b' }] },
      [['C.1.Name', 'a'], ['C.1.Port.1.Port', '80'], ['C.1.Port.2.Port', '443'], ['C.1.Port.2.Protocol', 'TCP'], ['C.2.Name', 'b']],
    ],
    ['prefix', { A: 'a' }, [['P.A', 'a']]],
  ];
  for (const [name, value, want] of cases) {
    it(name, () => {
      const prefix = name === 'prefix' ? 'P.' : '';
      assert.deepEqual([...flattenParams(value, prefix)], want);
    });
  }

  it('round-trips through parseParams', () => {
    const fields = {
      RegionId: p.string({ required: true }),
      Cpu: p.float(),
      Restart: p.enum(['Always', 'Never']),
      Flag: p.bool(),
      Container: p.list(p.struct({ Name: p.string({ required: true }), Port: p.list(p.struct({ Port: p.int(), Protocol: p.string() })), Command: p.list(p.string()) })),
      Tag: tagsParam,
    } as const;
    const value = {
      RegionId: 'cn-hangzhou',
      Cpu: 0.5,
      Restart: 'Never',
      Flag: true,
      Container: [{ Name: 'a', Port: [{ Port: 80, Protocol: 'TCP' }], Command: ['/bin/sh', '-c', 'echo hi & sleep 1'] }, { Name: 'b' }],
      Tag: [{ Key: 'k', Value: 'v' }],
    };
    const parsed = parseParams(fields, flattenParams(value));
    assert.deepEqual(parsed, value);
  });
});
