// The documentation stays true to the code: every error code the server can answer is in
// docs/errors.md (and nothing else is), the README lists every action and every UnsupportedOperation
// action, and docs/cli.md describes every verb.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ALL_ACTIONS, UNSUPPORTED } from '../../src/api/actions/index.ts';
import { helpText } from '../../src/cli/main.ts';
import { ROOT } from '../helpers/server.ts';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Dotted capitalised literals that are parameter names, not error codes. */
const NOT_CODES = new Set(['HostSecurityContext.Sysctl']);

/** The error codes written in src/api, src/core, src/store and src/controllers. */
function codesInSource(): Set<string> {
  const codes = new Set<string>();
  const patterns = [
    // Any dotted capitalised literal: `'InvalidVpcId.NotFound'`, also when passed to a helper.
    /'([A-Z][A-Za-z]*(?:\.[A-Za-z_]+)+)'/g,
    // Single-word codes where an error is made.
    /\b(?:invalid|notFound|conflict|forbidden|quotaExceeded)\(\s*'([A-Za-z_.]+)'/g,
    /\bApiError\(\s*'[A-Za-z]+',\s*'([A-Za-z_.]+)'/g,
    /\bcode:\s*'([A-Za-z_.]+)'/g,
    /\bCode:\s*'([A-Za-z_.]+)'/g,
    /\benvelope\(\s*\d{3},\s*'([A-Za-z_.]+)'/g,
  ];
  for (const dir of ['src/api', 'src/core', 'src/store', 'src/controllers']) {
    for (const file of sources(join(ROOT, dir))) {
      const text = readFileSync(file, 'utf8');
      for (const re of patterns) for (const m of text.matchAll(re)) if (!NOT_CODES.has(m[1])) codes.add(m[1]);
    }
  }
  return codes;
}

describe('docs', () => {
  const errors = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const documented = new Set([...errors.matchAll(/^\| `([^`]+)` \| (\d{3}) \|/gm)].map((m) => m[1]));

  it('docs/errors.md lists every error code the server answers, with its HTTP status', () => {
    const used = codesInSource();
    assert.ok(used.has('InvalidVpcId.NotFound') && used.has('MissingParameter') && used.has('InternalError'), 'the extraction finds codes');
    const missing = [...used].filter((c) => !documented.has(c)).sort();
    assert.deepEqual(missing, [], `codes used in src/ but not documented in docs/errors.md: ${missing.join(', ')}`);
    const stale = [...documented].filter((c) => !used.has(c)).sort();
    assert.deepEqual(stale, [], `codes documented in docs/errors.md that src/ no longer answers: ${stale.join(', ')}`);
  });

  it('the README starts with the two commands and lists every action and every unsupported one', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const lines = readme.split('\n');
    assert.match(lines[0], /^1\. `bash scripts\/setup\.sh && npx eci dev`/);
    assert.match(lines[1], /^2\. `bash scripts\/setup\.sh && npm test`/);
    const implemented = readme.slice(readme.indexOf('## What is implemented'), readme.indexOf('## What answers UnsupportedOperation'));
    const unsupported = readme.slice(readme.indexOf('## What answers UnsupportedOperation'), readme.indexOf('## Tests'));
    const words = (text: string) => new Set(text.match(/\b[A-Z][A-Za-z]+\b/g));
    const implementedWords = words(implemented);
    const unsupportedWords = words(unsupported);
    const notListed = ALL_ACTIONS.filter((a) => !implementedWords.has(a.name)).map((a) => `${a.product} ${a.name}`);
    assert.deepEqual(notListed, [], 'implemented actions missing from the README');
    const unlisted = Object.entries(UNSUPPORTED).flatMap(([p, names]) => names.filter((n) => !unsupportedWords.has(n)).map((n) => `${p} ${n}`));
    assert.deepEqual(unlisted, [], 'UnsupportedOperation actions missing from the README');
    const wrong = ALL_ACTIONS.filter((a) => unsupportedWords.has(a.name) && !Object.values(UNSUPPORTED).some((l) => l.includes(a.name))).map((a) => a.name);
    assert.deepEqual(wrong, [], 'implemented actions listed as unsupported in the README');
  });

  it('docs/cli.md describes every verb that `eci help` lists', () => {
    const cli = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');
    const verbs = [...helpText().matchAll(/^ {2}eci ([a-z]+) {2,}/gm)].map((m) => m[1]);
    assert.ok(verbs.length >= 9, `found verbs: ${verbs.join(', ')}`);
    for (const v of verbs) assert.match(cli, new RegExp(`^### .*\`eci ${v}\\b`, 'm'), `docs/cli.md has no section for eci ${v}`);
  });
});
