// The whole test suite: a strict type-check, then every test file under test/ with node:test.
// Tests needing root (kernel) or PostgreSQL start what they need themselves and clean up after.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const only = process.argv.slice(2);
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('test: type-check failed');
  process.exit(1);
}
const targets = only.length ? only : files('test').sort();
const run = spawnSync(
  process.execPath,
  ['--disable-warning=ExperimentalWarning', '--test', '--test-concurrency=2', '--test-timeout=300000', ...targets],
  { stdio: 'inherit' },
);
process.exit(run.status ?? 1);
