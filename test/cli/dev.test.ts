// `eci dev --port 0`: the all-in-one picks a free port, prints it, writes dev.json, and the CLI finds
// it through --state-dir; then the process is stopped by its PID.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { listNetns } from '../../src/agent/net/exec.ts';
import { BIN } from '../helpers/server.ts';
import { emptyDir, ok, parseTable } from './run-cli.ts';

function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => reject(new Error(`eci dev exited with ${code}:\n${out}`)));
  });
}

describe('eci dev', () => {
  const stateDir = emptyDir('eci-dev-');
  let child: ChildProcess | undefined;
  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('listens on a free port with --port 0, writes dev.json, serves the CLI, and stops on SIGTERM to its PID', async () => {
    const home = emptyDir();
    child = spawn(BIN, ['dev', '--port', '0', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'], cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home } });
    const m = await waitForOutput(child, /eci dev listening on 127\.0\.0\.1:(\d+) \(pid (\d+),/);
    const port = Number(m[1]);
    assert.ok(port > 0 && port !== 8880, `a port picked by the kernel, got ${port}`);
    assert.equal(Number(m[2]), child.pid, 'bin/eci execs node, so the printed PID is the one we started');

    const devPath = join(stateDir, 'dev.json');
    const dev = JSON.parse(readFileSync(devPath, 'utf8'));
    // As root eci dev also runs a host agent in a sandbox netns of its own, named in dev.json.
    const isRoot = process.getuid?.() === 0;
    assert.deepEqual(Object.keys(dev).sort(), isRoot ? ['accessKeyId', 'accessKeySecret', 'endpoint', 'hostNetns', 'regionId'] : ['accessKeyId', 'accessKeySecret', 'endpoint', 'regionId']);
    if (isRoot) assert.match(dev.hostNetns, /^eci-host-[a-z2-7]{8}$/);
    assert.equal(dev.endpoint, `127.0.0.1:${port}`);
    assert.match(dev.accessKeyId, /^LTAI[0-9a-f]{20}$/);
    assert.ok(dev.accessKeySecret.length >= 20);
    assert.equal(dev.regionId, 'cn-hangzhou');
    assert.equal(statSync(devPath).mode & 0o777, 0o600, 'the secret is readable by its owner only');

    const table = parseTable(ok(['eci', 'DescribeRegions', '--state-dir', stateDir], { home }));
    assert.deepEqual(table.rows.map((r) => [r.RegionId, r.Zones]), [['cn-hangzhou', 'cn-hangzhou-h,cn-hangzhou-i']]);
    // ECI_STATE_DIR finds it as well, and the config says where everything came from.
    const view = JSON.parse(ok(['config', '--json'], { home, env: { ECI_STATE_DIR: stateDir } }));
    assert.equal(view.endpoint, `127.0.0.1:${port}`);
    assert.equal(view.file, devPath);

    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child!.once('exit', (code, signal) => r({ code, signal })));
    process.kill(child.pid!, 'SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
    if (isRoot) assert.ok(!(await listNetns()).includes(dev.hostNetns), 'eci dev removes the namespace it created');
  });
});
