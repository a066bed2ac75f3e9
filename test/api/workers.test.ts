// `eci server --workers N`: the API served by N processes on one port and one store. The kernel spreads
// connections over them; a worker that dies is replaced; stopping the server stops them all.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { BIN, startServer, type TestServer } from '../helpers/server.ts';
import { closeConnections, send, signV3 } from '../helpers/sign.ts';

const REGION = 'cn-hangzhou';

/** PIDs of the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Whether a process runs (not a zombie); one reaped while we look is not. */
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return false;
  }
};

async function until<T>(what: string, fn: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('eci server --workers', () => {
  let server: TestServer;
  let vpc: VpcClient;
  before(async () => {
    server = await startServer({ workers: 2 });
    vpc = new VpcClient(server.sdkConfig(server.key('alice')));
  });
  after(() => server.close());

  /**
   * DescribeVpcs on a connection of its own: a keep-alive connection to a worker that was killed is
   * reset, as a client of any server process that dies sees it.
   */
  const describeVpcs = async () => {
    closeConnections();
    const key = server.key('alice');
    const r = await send(server.endpoint, signV3(key, { action: 'DescribeVpcs', version: '2016-04-28', params: { RegionId: REGION }, host: server.endpoint }));
    assert.equal(r.status, 200, r.text);
    return r.json.TotalCount as number;
  };

  it('serves one port from two processes, both answering', async () => {
    const [worker] = childrenOf(server.process.pid!);
    assert.ok(worker, 'the server started a worker process');
    assert.equal(childrenOf(server.process.pid!).length, 1);
    // 24 connections: the kernel hashes each to one of the two listeners (all on one: p ≈ 1e-7).
    const sockets: Socket[] = await Promise.all(
      Array.from({ length: 24 }, () => new Promise<Socket>((resolve, reject) => {
        const s = connect(server.port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      })),
    );
    try {
      const owners = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${server.port} )`], { encoding: 'utf8' });
      const pids = new Set([...owners.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
      assert.deepEqual([...pids].sort(), [server.process.pid!, worker].sort(), owners);
    } finally {
      for (const s of sockets) s.destroy();
    }
    const created = await vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/8' }));
    assert.match(created.body!.vpcId!, /^vpc-/);
    assert.equal(await describeVpcs(), 1);
  });

  it('replaces a worker that dies, and serves meanwhile', async () => {
    const [worker] = childrenOf(server.process.pid!);
    process.kill(worker, 'SIGKILL');
    await until('the worker to exit', () => (alive(worker) ? undefined : true));
    assert.equal(await describeVpcs(), 1, 'the server answers alone');
    const replacement = await until('a new worker', () => childrenOf(server.process.pid!).find((p) => p !== worker));
    assert.ok(alive(replacement));
    for (let i = 0; i < 10; i++) assert.equal(await describeVpcs(), 1);
  });

  it('stops its workers when it stops', async () => {
    const workers = childrenOf(server.process.pid!);
    assert.equal(workers.length, 1);
    await server.stop();
    await until('the workers to exit', () => (workers.some(alive) ? undefined : true));
    await server.restart();
    assert.equal(await describeVpcs(), 1, 'the store kept what the workers wrote');
  });

  it('refuses a worker count it cannot use', () => {
    for (const bad of ['0', 'two', '1.5', '65']) {
      const r = spawnSync(BIN, ['server', '--workers', bad, '--port', '0', '--store', ':memory:'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--workers must be a whole number from 1 to 64/);
    }
  });
});
