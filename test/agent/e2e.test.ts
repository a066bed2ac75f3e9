// End to end with real processes: `eci server` + `eci agent` (its kernel objects in a host netns of this
// run), driven by the official ECI SDK. A group becomes a runc container, its log and exec are served
// through the agent's local API, a kill -9 of the agent adopts the container, and deletion leaves nothing.
// Root only (namespaces, mounts, runc).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { AgentApiError, callAgent, startAgentApi } from '../../src/agent/api.ts';
import { run } from '../../src/agent/net/exec.ts';
import { instanceNetnsName } from '../../src/agent/net/names.ts';
import { describePreflight, preflight } from '../../src/agent/preflight.ts';
import { runcContainerId } from '../../src/agent/runtime/runtime.ts';
import { attachInternetClient, detachInternetClient, type InternetClient } from '../../src/agent/net/host.ts';
import { $Eci, $Ecs, $Vpc, EciClient, EcsClient, VpcClient } from '../helpers/sdk.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { describeGroup as describeGroupOf } from './helpers/groups.ts';
import { until } from '../helpers/wait.ts';

const REGION = 'cn-hangzhou';
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('host agent end to end', { skip: isRoot ? false : 'needs root (network namespaces, mounts, runc)' }, () => {
  let cluster: TestCluster;
  let eci: EciClient;
  let vpc: VpcClient;
  let ecs: EcsClient;
  let internet: InternetClient | undefined;

  before(async () => {
    cluster = await startCluster();
    const key = cluster.server.key('e2e');
    eci = new EciClient(cluster.server.sdkConfig(key));
    vpc = new VpcClient(cluster.server.sdkConfig(key));
    ecs = new EcsClient(cluster.server.sdkConfig(key));
  });
  after(async () => {
    if (process.env.ECI_TEST_DEBUG) console.error(cluster?.agent.output());
    if (internet) await detachInternetClient(internet);
    await cluster?.destroy();
  });

  const describeGroup = (id: string) => describeGroupOf(eci, id);
  const runcState = async (id: string) => {
    const { stdout } = await run(['runc', '--root', cluster.agent.runcRoot, 'state', id]);
    return JSON.parse(stdout) as { status: string; pid: number };
  };

  it('runs a group behind its EIP, serves its log and exec, survives an agent kill -9, restarts, and leaves nothing after delete', async () => {
    const created = await eci.createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: 'hello',
        cpu: 0.5,
        memory: 0.5,
        restartPolicy: 'Always',
        // sh as PID 1 ignores SIGTERM, so deletion waits the grace period and then SIGKILLs.
        terminationGracePeriodSeconds: 2,
        autoCreateEip: true,
        eipBandwidth: 5,
        container: [
          new $Eci.CreateContainerGroupRequestContainer({
            name: 'app',
            image: 'busybox',
            command: ['sh', '-c', 'echo hello; nc -ll -p 8080 -e echo hi & nc -ll -p 9090 -e echo nine & exec sleep 3600'],
            port: [new $Eci.CreateContainerGroupRequestContainerPort({ port: 8080, protocol: 'TCP' })],
          }),
        ],
      }),
    );
    const id = created.body!.containerGroupId!;

    const running = await until('Running', async () => {
      const g = await describeGroup(id);
      return g?.status === 'Running' ? g : undefined;
    });
    const c = running.containers![0];
    assert.equal(c.currentState?.state, 'Running');
    assert.equal(c.restartCount, 0);
    assert.equal(c.ready, true);
    assert.match(running.intranetIp ?? '', /^\d+\.\d+\.\d+\.\d+$/);

    // The EIP: InUse once the group runs, and answering TCP from the "Internet" on exactly the ports
    // its security group opens.
    // The SDK's DescribeContainerGroups model has no EipInstanceId: read it raw.
    const raw = await cluster.server.client(cluster.server.key('e2e')).call('eci', 'DescribeContainerGroups', { ContainerGroupIds: JSON.stringify([id]) });
    const eipId = raw.ContainerGroups[0].EipInstanceId as string;
    assert.match(eipId, /^eip-/);
    const eip = await until('the EIP to be InUse', async () => {
      const r = await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId: eipId }));
      const e = r.body!.eipAddresses!.eipAddress![0];
      return e.status === 'InUse' ? e : undefined;
    });
    assert.equal(eip.instanceId, id);
    const eipIp = eip.ipAddress!;
    internet = await attachInternetClient(cluster.agent.hostId);
    const tcp = async (ip: string, port: number) => {
      const r = await run(['busybox', 'nc', '-w', '2', ip, String(port)], { netns: internet!.netns, timeoutMs: 5000 }).catch((e: unknown) => ({ stdout: `failed: ${e instanceof Error ? e.message : String(e)}` }));
      return r.stdout;
    };
    // The default security group opens the declared container port (8080), nothing else.
    assert.equal(await until('port 8080 through the EIP', async () => ((await tcp(eipIp, 8080)) === 'hi\n' ? 'hi\n' : undefined), 10_000), 'hi\n');
    assert.match(await tcp(eipIp, 9090), /failed/, 'an undeclared port stays closed');
    // A rule added to the running instance's security group opens 9090.
    await ecs.authorizeSecurityGroup(
      new $Ecs.AuthorizeSecurityGroupRequest({ regionId: REGION, securityGroupId: running.securityGroupId!, ipProtocol: 'tcp', portRange: '9090/9090', sourceCidrIp: '0.0.0.0/0', policy: 'accept', priority: '1' }),
    );
    assert.equal(await until('port 9090 after AuthorizeSecurityGroup', async () => ((await tcp(eipIp, 9090)) === 'nine\n' ? 'nine\n' : undefined), 10_000), 'nine\n');
    assert.match(await tcp(eipIp, 8081), /failed/, 'a port nobody opened stays closed');
    // Bandwidth: the EIP's 5 Mbit/s in each direction, measured with iperf3 between the Internet and
    // the instance's namespace. (±15% here; the shaper's own kernel test holds it to ±10%.)
    await ecs.authorizeSecurityGroup(
      new $Ecs.AuthorizeSecurityGroupRequest({ regionId: REGION, securityGroupId: running.securityGroupId!, ipProtocol: 'tcp', portRange: '5201/5201', sourceCidrIp: '0.0.0.0/0', policy: 'accept', priority: '1' }),
    );
    const instanceNs = instanceNetnsName(cluster.agent.hostId, id);
    const iperf = async (reverse: boolean): Promise<number> => {
      const server = run(['iperf3', '-s', '-1', '-p', '5201'], { netns: instanceNs, timeoutMs: 15_000 }).catch(() => undefined);
      await sleep(300);
      const out = await until('iperf3 to connect', async () => (await run(['iperf3', '-c', eipIp, '-p', '5201', '-t', '3', '-O', '1', '-J', ...(reverse ? ['-R'] : [])], { netns: internet!.netns, timeoutMs: 12_000 })).stdout, 8000);
      await server;
      return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
    };
    const down = await iperf(false);
    const up = await iperf(true);
    if (process.env.ECI_TEST_DEBUG) console.error(`iperf3 through the EIP: download ${down.toFixed(2)} Mbit/s, upload ${up.toFixed(2)} Mbit/s`);
    assert.ok(down > 4.25 && down < 5.75, `download ${down.toFixed(2)} Mbit/s, want 5`);
    assert.ok(up > 4.25 && up < 5.75, `upload ${up.toFixed(2)} Mbit/s, want 5`);

    // Outbound: the instance reaches the Internet with its EIP as the source address. The Internet's
    // listener answers with its own view of the connection (ss run on accept), so the peer it saw
    // comes back to the instance.
    const listener = run(['busybox', 'nc', '-l', '-p', '7000', '-e', '/bin/sh', '-c', 'ss -tnH; echo seen'], { netns: internet.netns, timeoutMs: 10_000 }).catch(() => undefined);
    await sleep(300);
    const view = await eci.execContainerCommand(
      new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: id, containerName: 'app', command: JSON.stringify(['sh', '-c', `echo x | nc -w 3 ${internet.ip} 7000`]), sync: true }),
    );
    await listener;
    const seen = view.body!.syncResponse ?? '';
    assert.match(seen, /seen\n$/, seen);
    const peers = seen.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => /[:\]]7000$/.test(f[3] ?? '')).map((f) => f[4].replace(/^\[::ffff:/, '').replace(/\]?:\d+$/, ''));
    assert.deepEqual([...new Set(peers)], [eipIp], `the Internet saw:\n${seen}`);
    // The private IP is not reachable from the Internet.
    assert.match(await tcp(running.intranetIp!, 8080), /failed/);

    // A real process backs it: runc knows the container and its PID is alive.
    const state = await runcState(runcContainerId(id, 'app'));
    assert.equal(state.status, 'running');
    assert.ok(existsSync(`/proc/${state.pid}`), `PID ${state.pid} is alive`);
    assert.match(readFileSync(`/proc/${state.pid}/cmdline`, 'utf8'), /sleep|sh/);

    const log = await until('the log line', async () => {
      const r = await eci.describeContainerLog(new $Eci.DescribeContainerLogRequest({ regionId: REGION, containerGroupId: id, containerName: 'app' }));
      return r.body!.content?.includes('hello') ? r.body! : undefined;
    });
    assert.equal(log.containerName, 'app');
    assert.equal(log.content, 'hello\n');
    const stamped = await eci.describeContainerLog(new $Eci.DescribeContainerLogRequest({ regionId: REGION, containerGroupId: id, containerName: 'app', timestamps: true }));
    assert.match(stamped.body!.content!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z hello\n$/);

    const exec = await eci.execContainerCommand(
      new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: id, containerName: 'app', command: JSON.stringify(['sh', '-c', 'echo out-$((6*7)); hostname']), sync: true }),
    );
    assert.equal(exec.body!.syncResponse, 'out-42\nhello\n');
    // Non-Sync: a WebSocketUri for an interactive session (test/agent/e2e-exec.test.ts) and an HttpUrl
    // that runs the command once; using one spends both.
    const session = await eci.execContainerCommand(
      new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: id, containerName: 'app', command: JSON.stringify(['echo', 'via-url']), sync: false, TTY: false, stdin: false }),
    );
    assert.match(session.body!.webSocketUri ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/v1\/exec-ws\/[0-9a-f]{48}$/);
    const viaUrl = await fetch(session.body!.httpUrl!);
    assert.equal(await viaUrl.text(), 'via-url\n');
    assert.equal((await fetch(session.body!.httpUrl!)).status, 404, 'a session URL runs its command once');

    // kill -9 of the agent, then a restart: the container is adopted, not restarted.
    await cluster.agent.kill9();
    assert.equal((await runcState(runcContainerId(id, 'app'))).pid, state.pid, 'the container outlives its agent');
    await cluster.agent.start();
    await sleep(1500);
    const after = await describeGroup(id);
    assert.equal(after?.status, 'Running');
    assert.equal(after?.containers![0].restartCount, 0);
    assert.equal((await runcState(runcContainerId(id, 'app'))).pid, state.pid, 'same PID after the agent restart');
    const again = await eci.execContainerCommand(
      new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: id, containerName: 'app', command: JSON.stringify(['echo', 'still']), sync: true }),
    );
    assert.equal(again.body!.syncResponse, 'still\n');

    // RestartContainerGroup: Restarting, then Running again with a new process and RestartCount 1.
    await eci.restartContainerGroup(new $Eci.RestartContainerGroupRequest({ regionId: REGION, containerGroupId: id }));
    // What the wait saw last goes into its failure (this wait timed out once in CI, unexplained).
    let lastSeen: unknown;
    const restarted = await until('Running after the restart', async () => {
      const g = await describeGroup(id);
      lastSeen = g && { status: g.status, containers: g.containers?.map((x) => ({ current: x.currentState, restartCount: x.restartCount })), events: g.events?.slice(-8).map((e) => `${e.reason}: ${e.message}`) };
      return g?.status === 'Running' && g.containers![0].restartCount === 1 ? g : undefined;
    }, 20_000).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; last seen: ${JSON.stringify(lastSeen)}`);
    });
    assert.equal(restarted.containers![0].previousState?.state, 'Terminated');
    const newState = await runcState(runcContainerId(id, 'app'));
    assert.equal(newState.status, 'running');
    assert.notEqual(newState.pid, state.pid, 'a restart runs a new process');
    assert.ok(!existsSync(`/proc/${state.pid}`), 'the old process is gone');

    // Delete: Terminating, then gone, and nothing of the group is left on the host.
    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: id }));
    assert.equal((await describeGroup(id))?.status, 'Terminating', 'the agent stops it gracefully first');
    await until('the group to disappear', async () => ((await describeGroup(id)) === undefined ? true : undefined), 30_000);
    assert.ok(!existsSync(`/proc/${newState.pid}`), 'the container process is gone');
    // The router goes within one resync once no group of its VPC is left on the host.
    const left = async () => (await cluster.leftovers()).filter((l) => l !== `netns ${cluster.agent.hostNetns}` && l !== `netns ${internet?.netns}`);
    await until('no leftovers', async () => ((await left()).length === 0 ? true : undefined), 8000).catch(() => undefined);
    assert.deepEqual(await left(), []);
    const released = await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId: eipId }));
    assert.equal(released.body!.totalCount, 0, 'the auto-created EIP is released with its group');
  });

  it('ends a RestartPolicy Never group when its container ends, and deletes a finished group', async () => {
    const created = await eci.createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: 'once',
        cpu: 0.25,
        memory: 0.25,
        restartPolicy: 'Never',
        container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'job', image: 'busybox', command: ['sh', '-c', 'echo done; exit 3'] })],
      }),
    );
    const id = created.body!.containerGroupId!;
    const failed = await until('Failed', async () => {
      const g = await describeGroup(id);
      return g?.status === 'Failed' ? g : undefined;
    });
    const c = failed.containers![0];
    assert.equal(c.currentState?.state, 'Terminated');
    assert.equal(c.currentState?.exitCode, 3);
    assert.equal(c.currentState?.reason, 'Error');
    assert.equal(c.restartCount, 0);
    const log = await eci.describeContainerLog(new $Eci.DescribeContainerLogRequest({ regionId: REGION, containerGroupId: id, containerName: 'job' }));
    assert.equal(log.body!.content, 'done\n', 'a finished container keeps its log');
    const events = await eci.describeContainerGroupEvents(new $Eci.DescribeContainerGroupEventsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
    const reasons = events.body!.data![0].events!.map((e) => e.reason);
    for (const r of ['Pulled', 'Created', 'Started']) assert.ok(reasons.includes(r), `event ${r} in ${reasons.join(', ')}`);

    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: id }));
    await until('the group to disappear', async () => ((await describeGroup(id)) === undefined ? true : undefined), 15_000);
    const left = async () => (await cluster.leftovers()).filter((l) => l !== `netns ${cluster.agent.hostNetns}` && l !== `netns ${internet?.netns}`);
    await until('no leftovers', async () => ((await left()).length === 0 ? true : undefined), 8000).catch(() => undefined);
    assert.deepEqual(await left(), []);
  });
});

// No kernel needed: the local API's contract and the start-up check, with stand-ins.
describe('agent local API', () => {
  it('answers only with the token, relays error codes, and runs a session URL once', async () => {
    const calls: string[] = [];
    const api = await startAgentApi({
      handlers: {
        async readLog(req) {
          if (req.ContainerName === 'missing') throw new AgentApiError(400, 'InvalidParameter', 'no such container');
          return { ContainerName: req.ContainerName, Content: `tail=${req.Tail} ts=${req.Timestamps}` };
        },
        async exec(req) {
          calls.push(req.Command.join(' '));
          return { output: `ran ${req.Command.join(' ')}\n`, exitCode: 0 };
        },
      },
    });
    try {
      assert.match(api.endpoint, /^127\.0\.0\.1:\d+$/);
      const denied = await callAgent(api.endpoint, 'wrong', '/v1/logs', { ContainerGroupId: 'eci-1', ContainerName: 'app' }).catch((e: unknown) => e);
      assert.ok(denied instanceof AgentApiError);
      assert.equal(denied.status, 401);
      const log = await callAgent<{ Content: string }>(api.endpoint, api.token, '/v1/logs', { ContainerGroupId: 'eci-1', ContainerName: 'app', Tail: 3, Timestamps: true });
      assert.equal(log.Content, 'tail=3 ts=true');
      const bad = await callAgent(api.endpoint, api.token, '/v1/logs', { ContainerGroupId: 'eci-1', ContainerName: 'missing' }).catch((e: unknown) => e);
      assert.ok(bad instanceof AgentApiError);
      assert.deepEqual([bad.status, bad.code, bad.message], [400, 'InvalidParameter', 'no such container']);
      const sync = await callAgent<{ SyncResponse: string }>(api.endpoint, api.token, '/v1/exec', { ContainerGroupId: 'eci-1', ContainerName: 'app', Command: ['echo', 'a'], Sync: true });
      assert.equal(sync.SyncResponse, 'ran echo a\n');
      const tty = await callAgent(api.endpoint, api.token, '/v1/exec', { ContainerGroupId: 'eci-1', ContainerName: 'app', Command: ['sh'], TTY: true }).catch((e: unknown) => e);
      assert.ok(tty instanceof AgentApiError);
      assert.equal(tty.code, 'UnsupportedOperation');
      const session = await callAgent<{ HttpUrl: string; WebSocketUri: string }>(api.endpoint, api.token, '/v1/exec', { ContainerGroupId: 'eci-1', ContainerName: 'app', Command: ['echo', 'b'] });
      assert.equal(session.WebSocketUri, '');
      assert.equal(await (await fetch(session.HttpUrl)).text(), 'ran echo b\n');
      assert.equal((await fetch(session.HttpUrl)).status, 404);
      assert.deepEqual(calls, ['echo a', 'echo b']);
    } finally {
      await api.close();
    }
    const down = await callAgent(api.endpoint, api.token, '/v1/logs', {}).catch((e: unknown) => e);
    assert.ok(down instanceof AgentApiError);
    assert.deepEqual([down.status, down.code], [503, 'ServiceUnavailable']);
  });

  it('says what a host lacks', async () => {
    const r = await preflight({ uid: 1000, probe: async (argv) => { if (argv[0] === 'nft') throw new Error('ENOENT'); }, filesystems: () => 'nodev\tproc\n' });
    assert.equal(r.ok, false);
    assert.equal(r.missing.length, 3);
    assert.match(r.missing[0], /^root:/);
    assert.match(r.missing[1], /^nft /);
    assert.match(r.missing[2], /^overlayfs:/);
    assert.match(describePreflight(r), /cannot run instances/);
    const good = await preflight({ uid: 0, probe: async () => undefined, filesystems: () => 'nodev\toverlay\n' });
    assert.deepEqual(good, { ok: true, missing: [] });
  });
});
