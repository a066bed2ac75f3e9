// The runc container runtime against the real kernel: busybox containers in a network namespace this
// file creates, with its own state dir, runc root and host id. Root only. Everything it creates (netns,
// containers, shims, mounts, cgroups) is removed in `after`, and the last test asserts nothing is left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostCgroupPath } from '../../src/agent/runtime/bundle.ts';
import { ImageNotFoundError } from '../../src/agent/runtime/busybox-image.ts';
import { LogNotFoundError } from '../../src/agent/runtime/logs.ts';
import { listMountPoints } from '../../src/agent/runtime/rootfs.ts';
import { cgroupControllers, removeCgroupTree, runcList } from '../../src/agent/runtime/runc.ts';
import { checkRuntimeHost, RuncRuntime, type ContainerRunStatus } from '../../src/agent/runtime/runtime.ts';
import { instanceNetnsName } from '../../src/agent/net/names.ts';
import { ipBatch, listNetns, run } from '../../src/agent/net/exec.ts';
import type { ContainerGroupData, ContainerSpec } from '../../src/core/model.ts';
import { containerSpec, groupSpec } from './runtime-fixture.ts';

const isRoot = process.getuid?.() === 0;
const tag = (process.pid.toString(16) + randomBytes(4).toString('hex')).slice(-8);
const hostId = `host-${tag}`;
const netns = instanceNetnsName(hostId, 'eci-netns001');
const netnsPath = `/var/run/netns/${netns}`;
const POD_IP = '10.244.7.9';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runc container runtime (root)', { skip: isRoot ? false : 'needs root (runc, mounts, netns)' }, () => {
  let stateDir = '';
  let rt: RuncRuntime;
  const groups = new Set<string>();
  let seq = 0;

  const newGroup = (over: Partial<ContainerGroupData> = {}): ContainerGroupData => {
    const id = `eci-${tag}${(seq++).toString().padStart(3, '0')}`;
    groups.add(id);
    return groupSpec({ ContainerGroupId: id, IntranetIp: POD_IP, ...over });
  };

  async function waitExited(r: RuncRuntime, groupId: string, name: string, timeoutMs = 10_000): Promise<ContainerRunStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await r.state(groupId, name);
      if (s.state === 'exited') return s;
      if (Date.now() > deadline) throw new Error(`${groupId}/${name} still ${s.state} after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Prepares the group, starts `c` (run 0 unless given) and waits for it to end. */
  async function runToExit(group: ContainerGroupData, c: ContainerSpec, runNo = 0, r = rt): Promise<ContainerRunStatus> {
    await r.prepareGroup(group);
    await r.start({ group, container: c, netnsPath, run: runNo });
    return waitExited(r, group.ContainerGroupId, c.Name);
  }

  async function cleanup(): Promise<void> {
    if (!stateDir) return;
    for (const g of groups) await rt.removeGroup(g).catch((e: unknown) => console.error('cleanup', g, e));
    removeCgroupTree(hostCgroupPath(hostId));
    if ((await listNetns()).includes(netns)) await run(['ip', 'netns', 'del', netns]);
  }

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), `eci-rt-${tag}-`));
    rt = new RuncRuntime({ stateDir, hostId, hostIp: '192.0.2.10' });
    await run(['ip', 'netns', 'add', netns]);
    // Both veth ends inside the instance netns: nothing touches the machine's own namespace.
    await ipBatch(netns, ['link set lo up', 'link add eth0 type veth peer name peer0', `addr add ${POD_IP}/24 dev eth0`, 'link set eth0 up', 'link set peer0 up']);
  });

  after(async () => {
    await cleanup();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test('this host has everything the runtime needs', () => {
    assert.deepEqual(checkRuntimeHost(), []);
  });

  test('echo hello: exit 0, the line in the log, stamped RFC 3339 nano; exit 3 is reported', async () => {
    const g = newGroup();
    const ok = containerSpec({ Name: 'hello', Commands: ['echo', 'hello'] });
    const s = await runToExit(g, ok);
    assert.equal(s.state, 'exited');
    assert.equal(s.exitCode, 0);
    assert.equal(s.reason, 'Completed');
    assert.match(s.finishedAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(await rt.logs(g.ContainerGroupId, 'hello', {}), 'hello\n');
    assert.match(await rt.logs(g.ContainerGroupId, 'hello', { timestamps: true }), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello\n$/);

    const bad = containerSpec({ Name: 'bad', Commands: ['sh', '-c', 'echo oops >&2; exit 3'] });
    const s3 = await runToExit(g, bad);
    assert.equal(s3.exitCode, 3);
    assert.equal(s3.reason, 'Error');
    assert.equal(await rt.logs(g.ContainerGroupId, 'bad', {}), 'oops\n');

    const missing = containerSpec({ Name: 'nocmd', Commands: ['/no/such/binary'] });
    const sm = await runToExit(g, missing);
    assert.equal(sm.reason, 'StartError');
    assert.notEqual(sm.exitCode, 0);
    assert.match(sm.message!, /no such file/i);
  });

  test('an unknown image is a Failed pull', async () => {
    const g = newGroup();
    const c = containerSpec({ Name: 'x', Image: 'nginx:1.25' });
    await rt.prepareGroup(g);
    await assert.rejects(rt.start({ group: g, container: c, netnsPath, run: 0 }), ImageNotFoundError);
  });

  test('env with status.podIP, workingDir, hostname, /etc/hosts, resolv.conf', async () => {
    const g = newGroup({
      HostName: 'myhost',
      HostAliases: [{ Ip: '10.9.9.9', Hostnames: ['db.example', 'cache.example'] }],
      DnsPolicy: 'None',
      DnsConfig: { NameServers: ['192.0.2.53'], Searches: ['svc.example'], Options: [{ Name: 'ndots', Value: '2' }] },
    });
    const c = containerSpec({
      Name: 'env',
      WorkingDir: '/tmp',
      Commands: ['sh', '-c', 'echo "ip=$POD_IP plain=$PLAIN host=$HOSTNAME"; pwd; hostname; cat /etc/hosts /etc/resolv.conf'],
      EnvironmentVars: [
        { Key: 'POD_IP', Value: '', FieldPath: 'status.podIP' },
        { Key: 'PLAIN', Value: 'v 1', FieldPath: '' },
      ],
    });
    const s = await runToExit(g, c);
    assert.equal(s.exitCode, 0);
    const out = await rt.logs(g.ContainerGroupId, 'env', {});
    const lines = out.split('\n');
    assert.equal(lines[0], `ip=${POD_IP} plain=v 1 host=myhost`);
    assert.equal(lines[1], '/tmp');
    assert.equal(lines[2], 'myhost');
    assert.ok(lines.includes('127.0.0.1\tlocalhost'), out);
    assert.ok(lines.includes(`${POD_IP}\tmyhost`), out);
    assert.ok(lines.includes('10.9.9.9\tdb.example\tcache.example'), out);
    assert.ok(lines.includes('search svc.example'), out);
    assert.ok(lines.includes('nameserver 192.0.2.53'), out);
    assert.ok(lines.includes('options ndots:2'), out);
    assert.equal(lines.filter((l) => l.startsWith('nameserver')).length, 1, 'DnsPolicy None: only DnsConfig servers');
  });

  test('the container sees the veth address of the netns it was started in', async () => {
    const g = newGroup();
    const c = containerSpec({ Name: 'net', Commands: ['ip', '-4', 'addr', 'show', 'eth0'] });
    const s = await runToExit(g, c);
    assert.equal(s.exitCode, 0);
    assert.match(await rt.logs(g.ContainerGroupId, 'net', {}), new RegExp(`inet ${POD_IP.replace(/\./g, '\\.')}/24`));
  });

  test('memory and cpu limits land in the cgroups; exceeding memory kills the process', async () => {
    const g = newGroup({ Cpu: 1, Memory: 0.5 });
    const c = containerSpec({ Name: 'limited', Cpu: 0.5, Memory: 0.0625, Commands: ['sleep', '30'] });
    await rt.prepareGroup(g);
    const s = await rt.start({ group: g, container: c, netnsPath, run: 0 });
    assert.equal(s.state, 'running');
    const cg = (ctl: string, file: string, leaf = true) =>
      readFileSync(join('/sys/fs/cgroup', ctl, hostCgroupPath(hostId), g.ContainerGroupId, leaf ? 'limited' : '', file), 'utf8').trim();
    assert.equal(cg('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    assert.equal(cg('cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(cg('cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(cg('memory', 'memory.limit_in_bytes', false), String(512 * 1024 * 1024), 'the group parent carries the group limit');
    assert.equal(cg('cpu', 'cpu.cfs_quota_us', false), '100000');
    assert.ok(cg('memory', 'cgroup.procs').split('\n').includes(String(s.pid)), 'the container process is in its cgroup');
    const stopped = await rt.stop(g.ContainerGroupId, 'limited', 0);
    assert.equal(stopped.exitCode, 137);
    assert.equal(stopped.reason, 'Error', 'a kill is not an OOM kill');
    assert.equal(existsSync(join('/sys/fs/cgroup/memory', hostCgroupPath(hostId), g.ContainerGroupId, 'limited')), false, 'the run\'s cgroup is gone with it');

    const hog = containerSpec({ Name: 'hog', Memory: 0.0625, Commands: ['awk', 'BEGIN { s = "x"; while (1) s = s s }'] });
    const h = await runToExit(g, hog);
    assert.equal(h.exitCode, 137, 'killed by SIGKILL');
    assert.equal(h.reason, 'OOMKilled');
  });

  test('emptyDir is shared by the containers of a group; ConfigFileVolume content, modes, read-only', async () => {
    const g = newGroup({
      Volumes: [
        { Name: 'data', Type: 'EmptyDirVolume', EmptyDirVolume: { Medium: '', SizeLimit: '' } },
        { Name: 'mem', Type: 'EmptyDirVolume', EmptyDirVolume: { Medium: 'Memory', SizeLimit: '8Mi' } },
        {
          Name: 'cfg',
          Type: 'ConfigFileVolume',
          ConfigFileVolume: { DefaultMode: 0o640, ConfigFileToPaths: [{ Path: 'app/conf.txt', Content: b64('hello config\n'), Mode: 0o600 }, { Path: 'b.txt', Content: b64('bee') }] },
        },
      ],
    });
    const mounts = [
      { Name: 'data', MountPath: '/data', ReadOnly: false, SubPath: '', MountPropagation: 'None' as const },
      { Name: 'mem', MountPath: '/mem', ReadOnly: false, SubPath: '', MountPropagation: 'None' as const },
    ];
    const writer = containerSpec({ Name: 'writer', VolumeMounts: mounts, Commands: ['sh', '-c', 'echo shared-by-writer > /data/x && echo in-memory > /mem/y'] });
    const reader = containerSpec({
      Name: 'reader',
      VolumeMounts: [...mounts, { Name: 'cfg', MountPath: '/cfg', ReadOnly: true, SubPath: '', MountPropagation: 'None' }],
      Commands: ['sh', '-c', 'cat /data/x /mem/y /cfg/app/conf.txt; stat -c %a /cfg/app/conf.txt /cfg/b.txt; cat /cfg/b.txt; echo; grep -c " /mem tmpfs" /proc/mounts; touch /cfg/new 2>/dev/null || echo read-only'],
    });
    assert.equal((await runToExit(g, writer)).exitCode, 0);
    const r = await runToExit(g, reader);
    assert.equal(r.exitCode, 0, await rt.logs(g.ContainerGroupId, 'reader', {}));
    assert.equal(await rt.logs(g.ContainerGroupId, 'reader', {}), 'shared-by-writer\nin-memory\nhello config\n600\n640\nbee\n1\nread-only\n');

    // prepareGroup runs before every start, also while other containers of the group run: their bind
    // mounts must keep seeing the files, and a changed spec shows through.
    const watcher = containerSpec({ Name: 'watcher', VolumeMounts: reader.VolumeMounts, Commands: ['sleep', '30'] });
    await rt.start({ group: g, container: watcher, netnsPath, run: 0 });
    await rt.prepareGroup({ ...g, HostAliases: [{ Ip: '10.8.8.8', Hostnames: ['late.example'] }] });
    const seen = await rt.exec(g.ContainerGroupId, 'watcher', ['sh', '-c', 'cat /data/x /cfg/app/conf.txt; grep late.example /etc/hosts'], 5000);
    assert.equal(seen.stdout, 'shared-by-writer\nhello config\n10.8.8.8\tlate.example\n');
    assert.equal((await rt.stop(g.ContainerGroupId, 'watcher', 0)).exitCode, 137);
  });

  test('exec returns output and exit code; a timed-out exec is killed', async () => {
    const g = newGroup();
    const c = containerSpec({ Name: 'svc', Commands: ['sleep', '30'], EnvironmentVars: [{ Key: 'POD_IP', Value: '', FieldPath: 'status.podIP' }] });
    await rt.prepareGroup(g);
    await rt.start({ group: g, container: c, netnsPath, run: 0 });
    const r = await rt.exec(g.ContainerGroupId, 'svc', ['sh', '-c', 'echo out $POD_IP; echo err >&2; exit 4'], 5000);
    assert.deepEqual(r, { stdout: `out ${POD_IP}\n`, stderr: 'err\n', exitCode: 4, timedOut: false });
    let t = Date.now();
    const bg = await rt.exec(g.ContainerGroupId, 'svc', ['sh', '-c', 'sleep 21 & echo started-bg'], 500);
    assert.deepEqual([bg.stdout, bg.timedOut], ['started-bg\n', true], 'a background child holding the pipes holds the answer until the timeout');
    assert.ok(Date.now() - t < 1500, `answered at the timeout (${Date.now() - t} ms)`);
    t = Date.now();
    const slow = await rt.exec(g.ContainerGroupId, 'svc', ['sleep', '20'], 300);
    assert.equal(slow.timedOut, true);
    assert.ok(Date.now() - t < 3000, 'the timeout returns promptly');
    const ps = await rt.exec(g.ContainerGroupId, 'svc', ['ps', '-o', 'args'], 5000);
    assert.doesNotMatch(ps.stdout, /sleep 20/, 'the timed-out process was killed');
    assert.equal((await rt.state(g.ContainerGroupId, 'svc')).state, 'running', 'the container itself keeps running');
    assert.equal((await rt.stop(g.ContainerGroupId, 'svc', 0)).exitCode, 137);
  });

  test('stop: SIGTERM honoured by a trapping container; SIGKILL after the grace period otherwise', async () => {
    const g = newGroup();
    const polite = containerSpec({ Name: 'polite', Commands: ['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done'] });
    const stubborn = containerSpec({ Name: 'stubborn', Commands: ['sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 0.1; done'] });
    await rt.prepareGroup(g);
    await rt.start({ group: g, container: polite, netnsPath, run: 0 });
    await rt.start({ group: g, container: stubborn, netnsPath, run: 0 });
    for (const n of ['polite', 'stubborn']) for (let i = 0; i < 100 && !(await rt.logs(g.ContainerGroupId, n, {})).includes('ready'); i++) await sleep(20);

    await assert.rejects(rt.start({ group: g, container: polite, netnsPath, run: 1 }), /already running/);
    let t0 = Date.now();
    const p = await rt.stop(g.ContainerGroupId, 'polite', 10);
    assert.equal(p.exitCode, 7);
    assert.ok(Date.now() - t0 < 3000, `honoured TERM promptly (${Date.now() - t0} ms)`);
    assert.match(await rt.logs(g.ContainerGroupId, 'polite', {}), /got-term/);

    t0 = Date.now();
    const s = await rt.stop(g.ContainerGroupId, 'stubborn', 1);
    const took = Date.now() - t0;
    assert.equal(s.exitCode, 137);
    assert.ok(took >= 1000 && took < 5000, `killed after the 1 s grace period (${took} ms)`);
    assert.deepEqual((await runcList(rt.runcRoot)).filter((x) => x.id.startsWith(g.ContainerGroupId)), [], 'runc forgot both containers');
  });

  test('logs: rotation keeps N files, LastTime reads the previous run, SinceSeconds', async () => {
    const small = new RuncRuntime({ stateDir, hostId, logPolicy: { maxBytes: 300, keep: 2 } });
    const g = newGroup();
    const c1 = containerSpec({ Name: 'logger', Commands: ['sh', '-c', 'for i in $(seq 1 30); do echo line-$i; done'] });
    assert.equal((await runToExit(g, c1, 0, small)).exitCode, 0);
    const logDir = small.logDir(g.ContainerGroupId, 'logger');
    assert.deepEqual(readdirSync(logDir).sort(), ['0.log', '0.log.1', '0.log.2']);
    const all = await small.logs(g.ContainerGroupId, 'logger', {});
    assert.match(all, /line-30\n$/);
    assert.doesNotMatch(all, /^line-1\n/, 'the oldest rotated file was dropped');
    assert.equal(await small.logs(g.ContainerGroupId, 'logger', { tail: 3 }), 'line-28\nline-29\nline-30\n');
    assert.equal(await small.logs(g.ContainerGroupId, 'logger', { tail: 2, limitBytes: 9 }), 'line-29\nl');
    await assert.rejects(small.logs(g.ContainerGroupId, 'logger', { lastTime: true }), LogNotFoundError);

    const c2 = containerSpec({ Name: 'logger', Commands: ['sh', '-c', 'echo early; sleep 1.5; echo late'] });
    const s2 = await runToExit(g, c2, 1, small);
    assert.equal(s2.run, 1);
    assert.equal(await small.logs(g.ContainerGroupId, 'logger', {}), 'early\nlate\n');
    assert.equal(await small.logs(g.ContainerGroupId, 'logger', { sinceSeconds: 1 }), 'late\n');
    assert.equal(await small.logs(g.ContainerGroupId, 'logger', { lastTime: true, tail: 1 }), 'line-30\n');
  });

  test('a container outlives the process that started it and is adopted by a new runtime', async () => {
    const g = newGroup();
    const c = containerSpec({ Name: 'survivor', Commands: ['sh', '-c', 'echo started; exec sleep 60'] });
    await rt.prepareGroup(g);
    // A separate "agent" process starts the container and is then killed with SIGKILL.
    const script = `
      import { RuncRuntime } from ${JSON.stringify(new URL('../../src/agent/runtime/runtime.ts', import.meta.url).href)};
      const rt = new RuncRuntime({ stateDir: ${JSON.stringify(stateDir)}, hostId: ${JSON.stringify(hostId)} });
      const s = await rt.start({ group: ${JSON.stringify(g)}, container: ${JSON.stringify(c)}, netnsPath: ${JSON.stringify(netnsPath)}, run: 0 });
      console.log(JSON.stringify(s));
      setInterval(() => {}, 1000);`;
    const agent = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const started = await new Promise<ContainerRunStatus>((resolve, reject) => {
      let out = '';
      agent.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out) as ContainerRunStatus);
      });
      agent.on('exit', (code) => reject(new Error(`agent exited ${code} before starting: ${out}`)));
    });
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    assert.equal(started.state, 'running');

    const adopter = new RuncRuntime({ stateDir, hostId });
    assert.ok((await adopter.list()).some((x) => x.groupId === g.ContainerGroupId && x.name === 'survivor'));
    const seen = await adopter.state(g.ContainerGroupId, 'survivor');
    assert.equal(seen.state, 'running');
    assert.equal(seen.pid, started.pid, 'the same process, not a restart');
    const listed = await runcList(adopter.runcRoot);
    assert.deepEqual(listed.map((x) => [x.id, x.status, x.pid]), [[`${g.ContainerGroupId}.survivor`, 'running', started.pid]]);
    assert.equal((await adopter.exec(g.ContainerGroupId, 'survivor', ['echo', 'adopted'], 5000)).stdout, 'adopted\n');
    const stopped = await adopter.stop(g.ContainerGroupId, 'survivor', 1);
    assert.equal(stopped.state, 'exited');
    assert.equal(stopped.exitCode, 137, 'sleep as PID 1 has no TERM handler, so only the SIGKILL after the grace period ends it');
    assert.equal(await adopter.logs(g.ContainerGroupId, 'survivor', {}), 'started\n');
  });

  test('a container whose shim was killed is still seen running, stopped, and cleaned up', async () => {
    const g = newGroup();
    const c = containerSpec({ Name: 'orphan', Commands: ['sleep', '60'] });
    await rt.prepareGroup(g);
    const started = await rt.start({ group: g, container: c, netnsPath, run: 0 });
    const shimPid = Number(readFileSync(join(rt.containerDir(g.ContainerGroupId, 'orphan'), 'shim.pid'), 'utf8'));
    process.kill(shimPid, 'SIGKILL');
    for (let i = 0; i < 100 && existsSync(`/proc/${shimPid}/cmdline`) && readFileSync(`/proc/${shimPid}/cmdline`, 'utf8') !== ''; i++) await sleep(10);
    const seen = await rt.state(g.ContainerGroupId, 'orphan');
    assert.equal(seen.state, 'running');
    assert.equal(seen.pid, started.pid);
    const stopped = await rt.stop(g.ContainerGroupId, 'orphan', 0);
    assert.equal(stopped.state, 'exited');
    assert.equal(stopped.reason, 'Unknown', 'no shim, no exit code');
    await rt.removeContainer(g.ContainerGroupId, 'orphan');
    assert.equal((await runcList(rt.runcRoot)).some((x) => x.id.startsWith(g.ContainerGroupId)), false);
    assert.equal(existsSync(rt.containerDir(g.ContainerGroupId, 'orphan')), false);
  });

  test('removing the groups leaves nothing behind', async () => {
    await cleanup();
    assert.deepEqual(await runcList(rt.runcRoot), []);
    assert.deepEqual(listMountPoints().filter((m) => m.startsWith(stateDir)), []);
    const cgroups = cgroupControllers().filter((c) => existsSync(join('/sys/fs/cgroup', c, hostCgroupPath(hostId))));
    assert.deepEqual(cgroups, []);
    assert.deepEqual((await listNetns()).filter((n) => n.includes(tag)), []);
    const procs = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(stateDir);
      } catch {
        return false;
      }
    });
    assert.deepEqual(procs, [], 'no shim or container process left');
    assert.deepEqual(readdirSync(join(stateDir, 'groups')), []);
  });
});
