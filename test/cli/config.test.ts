// CLI configuration precedence: defaults < dev.json < ECI_* environment < flags, both in-process
// (loadCliConfig) and as a user sees it (`eci config --json`, and real calls against a server).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCliConfig, normalizeEndpoint } from '../../src/cli/config.ts';
import { CliError } from '../../src/cli/errors.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { eci, emptyDir, ok, serverEnv } from './run-cli.ts';

function writeDev(dir: string, dev: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dev.json'), JSON.stringify(dev));
  return join(dir, 'dev.json');
}

const FILE = { endpoint: '10.0.0.1:1111', accessKeyId: 'file-id', accessKeySecret: 'file-secret-123456', regionId: 'file-region' };

describe('loadCliConfig', () => {
  it('uses the defaults when there is no file, env or flag', () => {
    const c = loadCliConfig({}, {}, { cwd: emptyDir(), home: emptyDir() });
    assert.equal(c.endpoint, '127.0.0.1:8880');
    assert.equal(c.regionId, 'cn-hangzhou');
    assert.equal(c.accessKeyId, '');
    assert.equal(c.file, undefined);
    assert.deepEqual(c.sources, { endpoint: 'default', accessKeyId: 'default', accessKeySecret: 'default', regionId: 'default' });
    assert.ok(Object.isFrozen(c));
  });

  it('layers file < env < flags, value by value', () => {
    const cwd = emptyDir();
    const path = writeDev(join(cwd, '.eci'), FILE);
    const place = { cwd, home: emptyDir() };

    const fileOnly = loadCliConfig({}, {}, place);
    assert.equal(fileOnly.file, path);
    assert.equal(fileOnly.endpoint, '10.0.0.1:1111');
    assert.equal(fileOnly.accessKeyId, 'file-id');
    assert.equal(fileOnly.regionId, 'file-region');
    assert.equal(fileOnly.sources.endpoint, 'file');

    const env = { ECI_ENDPOINT: '10.0.0.2:2222', ECI_REGION: 'env-region', ECI_ACCESS_KEY_ID: 'env-id' };
    const withEnv = loadCliConfig(env, {}, place);
    assert.equal(withEnv.endpoint, '10.0.0.2:2222');
    assert.equal(withEnv.regionId, 'env-region');
    assert.equal(withEnv.accessKeyId, 'env-id');
    assert.equal(withEnv.accessKeySecret, 'file-secret-123456', 'a value the env does not set still comes from the file');
    assert.deepEqual(withEnv.sources, { endpoint: 'env', accessKeyId: 'env', accessKeySecret: 'file', regionId: 'env' });

    const withFlags = loadCliConfig(env, { endpoint: 'http://10.0.0.3:3333/', region: 'flag-region' }, place);
    assert.equal(withFlags.endpoint, '10.0.0.3:3333');
    assert.equal(withFlags.regionId, 'flag-region');
    assert.equal(withFlags.sources.endpoint, 'flag');
    assert.equal(withFlags.sources.regionId, 'flag');
  });

  it('finds dev.json in --state-dir over ECI_STATE_DIR, and ./.eci over ~/.eci', () => {
    const cwd = emptyDir();
    const home = emptyDir();
    writeDev(join(home, '.eci'), { ...FILE, accessKeyId: 'home-id' });
    assert.equal(loadCliConfig({}, {}, { cwd, home }).accessKeyId, 'home-id');
    writeDev(join(cwd, '.eci'), { ...FILE, accessKeyId: 'cwd-id' });
    assert.equal(loadCliConfig({}, {}, { cwd, home }).accessKeyId, 'cwd-id');
    const envDir = emptyDir();
    writeDev(envDir, { ...FILE, accessKeyId: 'envdir-id' });
    assert.equal(loadCliConfig({ ECI_STATE_DIR: envDir }, {}, { cwd, home }).accessKeyId, 'envdir-id');
    const flagDir = emptyDir();
    writeDev(flagDir, { ...FILE, accessKeyId: 'flagdir-id' });
    assert.equal(loadCliConfig({ ECI_STATE_DIR: envDir }, { stateDir: flagDir }, { cwd, home }).accessKeyId, 'flagdir-id');
    // A named state dir without dev.json means no file, not a fall-back to ./.eci.
    assert.equal(loadCliConfig({}, { stateDir: emptyDir() }, { cwd, home }).file, undefined);
  });

  it('refuses a malformed dev.json and endpoint with a CLI error', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'dev.json'), '{not json');
    assert.throws(() => loadCliConfig({}, { stateDir: dir }, { cwd: dir, home: dir }), (e) => e instanceof CliError && /cannot read .*dev\.json/.test(e.message));
    writeDev(dir, { endpoint: 42 });
    assert.throws(() => loadCliConfig({}, { stateDir: dir }, { cwd: dir, home: dir }), /"endpoint" must be a string/);
    assert.throws(() => normalizeEndpoint('https://x:1', '--endpoint'), /plain HTTP/);
    assert.throws(() => normalizeEndpoint('a b', '--endpoint'), /not an endpoint/);
    assert.equal(normalizeEndpoint('localhost', '--endpoint'), 'localhost:80');
  });
});

describe('eci config', () => {
  it('shows each value and its source, the secret masked', () => {
    const cwd = emptyDir();
    writeDev(join(cwd, '.eci'), FILE);
    const view = JSON.parse(ok(['config', '--json', '--region', 'flag-region'], { cwd, env: { ECI_ENDPOINT: '10.0.0.9:9999' } }));
    assert.equal(view.endpoint, '10.0.0.9:9999');
    assert.equal(view.accessKeyId, 'file-id');
    assert.equal(view.accessKeySecret, 'file****');
    assert.equal(view.regionId, 'flag-region');
    assert.equal(view.file, join(cwd, '.eci', 'dev.json'));
    assert.deepEqual(view.sources, { endpoint: 'env', accessKeyId: 'file', accessKeySecret: 'file', regionId: 'flag' });
    const text = ok(['config'], { cwd });
    assert.match(text, /^endpoint\s+10\.0\.0\.1:1111\s+file$/m);
    assert.doesNotMatch(text, /file-secret-123456/);
  });

  it('a broken dev.json is exit 1, a bad --endpoint exit 2; plain help works regardless', () => {
    const cwd = emptyDir();
    mkdirSync(join(cwd, '.eci'));
    writeFileSync(join(cwd, '.eci', 'dev.json'), '{"endpoint": ');
    const broken = eci(['ps'], { cwd });
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^eci: cannot read .*\.eci\/dev\.json: /);
    assert.equal(eci(['help'], { cwd }).code, 0);
    const badFlag = eci(['ps', '--endpoint', 'https://x:1'], { cwd: emptyDir() });
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /^eci: --endpoint: "https:\/\/x:1" uses https, but OpenECI serves plain HTTP/);
    const badEnv = eci(['ps'], { cwd: emptyDir(), env: { ECI_ENDPOINT: 'not an endpoint' } });
    assert.equal(badEnv.code, 1);
    assert.match(badEnv.stderr, /^eci: ECI_ENDPOINT: "not an endpoint" is not an endpoint/);
  });
});

describe('precedence against a server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('the flag beats the environment, which beats dev.json', () => {
    const key = server.key('alice');
    const stateDir = emptyDir();
    // dev.json points at a dead port with the right key; env and flag decide which endpoint is used.
    writeDev(stateDir, { endpoint: '127.0.0.1:1', accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, regionId: 'cn-hangzhou' });
    const viaFile = eci(['eci', 'DescribeRegions', '--state-dir', stateDir]);
    assert.equal(viaFile.code, 1);
    assert.match(viaFile.stderr, /cannot reach OpenECI at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);

    const viaEnv = eci(['eci', 'DescribeRegions', '--state-dir', stateDir], { env: { ECI_ENDPOINT: server.endpoint } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /cn-hangzhou-h,cn-hangzhou-i/);

    const viaFlag = eci(['--endpoint', server.endpoint, 'eci', 'DescribeRegions', '--state-dir', stateDir], { env: { ECI_ENDPOINT: '127.0.0.1:1' } });
    assert.equal(viaFlag.code, 0, viaFlag.stderr);

    // The region: the flag's unknown region reaches the server, which refuses it.
    const badRegion = eci(['vpc', 'DescribeVpcs', '--region', 'mars-1'], { env: serverEnv(server, key) });
    assert.equal(badRegion.code, 1);
    assert.match(badRegion.stderr, /^InvalidRegionId\.NotFound: .*mars-1.* \(RequestId [0-9A-F-]{36}\)$/m);
  });

  it('answers a clear error, exit 1, without credentials', () => {
    const r = eci(['vpc', 'ls'], { env: { ECI_ENDPOINT: server.endpoint } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^eci: no credentials: run `eci dev`/);
    assert.equal(r.stdout, '');
  });

  it('a wrong secret is the server\'s SignatureDoesNotMatch', () => {
    const key = server.key('alice');
    const r = eci(['vpc', 'ls'], { env: { ...serverEnv(server, key), ECI_ACCESS_KEY_SECRET: 'wrong' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^SignatureDoesNotMatch: .* \(RequestId [0-9A-F-]{36}\)$/m);
  });
});
