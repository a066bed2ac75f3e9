// End to end, surviving faults (issue 3): `eci server` + `eci agent` (its kernel objects in a host netns
// of this run), driven by the official ECI SDK. Each fault is made from outside, by PID or with the
// kernel tools, the way it happens on a real host; the agent repairs drift within one resync
// (RESYNC_MS), recreates groups after a simulated reboot according to their restart policy, and a
// silent agent gets its host marked Unhealthy. Root only.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RESYNC_MS } from '../../src/agent/agent.ts';
import { listNetns, run } from '../../src/agent/net/exec.ts';
import { destroySandboxHost } from '../../src/agent/net/host.ts';
import { instanceNetnsName, instanceVeth, routerNetnsName, shortId } from '../../src/agent/net/names.ts';
import { readPid, shimFiles } from '../../src/agent/runtime/runc.ts';
import { listMountPoints } from '../../src/agent/runtime/rootfs.ts';
import { runcContainerId } from '../../src/agent/runtime/runtime.ts';
import { KIND, type ContainerGroupData, type HostData } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import { $Eci, EciClient } from '../helpers/sdk.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { describeGroup as describeGroupOf, groupEvents } from './helpers/groups.ts';
import { inetNamespace, probe, tcp } from './helpers/kernel.ts';
import { until } from '../helpers/wait.ts';

const REGION = 'cn-hangzhou';
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** "Within one resync": the resync period plus the pass itself and the probe's own latency. */
const ONE_RESYNC_MS = RESYNC_MS + 1500;
/** The server's default host silence before Unhealthy (src/core/placement.ts); not configurable. */
const UNHEALTHY_AFTER_MS = 15_000;

describe('host agent end to end: faults', { skip: isRoot ? false : 'needs root (network namespaces, mounts, runc)' }, () => {
  let cluster: TestCluster;
  let eci: EciClient;
  let inet: Awaited<ReturnType<typeof inetNamespace>> | undefined;
  /** RestartPolicy Always, behind an EIP, serving `hi` on 8080. */
  let always = '';
  let eipIp = '';
  let vpcId = '';

  const describeGroup = (id: string) => describeGroupOf(eci, id);
  const eventsOf = (id: string) => groupEvents(eci, id);
  const statusIs = (id: string, status: string, timeoutMs = 20_000) =>
    until(`${id} ${status}`, async () => {
      const g = await describeGroup(id);
      return g?.status === status ? g : undefined;
    }, timeoutMs);
  const create = async (name: string, restartPolicy: string, command: string[], eip: boolean) =>
    (
      await eci.createContainerGroup(
        new $Eci.CreateContainerGroupRequest({
          regionId: REGION,
          containerGroupName: name,
          cpu: 0.25,
          memory: 0.25,
          restartPolicy,
          terminationGracePeriodSeconds: 1,
          ...(eip ? { autoCreateEip: true, eipBandwidth: 5 } : {}),
          container: [
            new $Eci.CreateContainerGroupRequestContainer({
              name: 'app',
              image: 'busybox',
              command,
              port: [new $Eci.CreateContainerGroupRequestContainerPort({ port: 8080, protocol: 'TCP' })],
            }),
          ],
        }),
      )
    ).body!.containerGroupId!;
  const containerPid = async (id: string): Promise<number> => {
    const { stdout } = await run(['runc', '--root', cluster.agent.runcRoot, 'state', runcContainerId(id, 'app')]);
    return (JSON.parse(stdout) as { pid: number }).pid;
  };
  const killPid = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  };
  const answersHi = async () => (await probe(inet!.netns, [tcp(eipIp, 8080)], 800))[0] === 'hi';
  /** Time from now until the EIP answers `hi` again. */
  const timeToAnswer = async (timeoutMs = 15_000) => {
    const t0 = Date.now();
    await until('the EIP to answer again', async () => ((await answersHi()) ? true : undefined), timeoutMs, 100);
    return Date.now() - t0;
  };
  const SERVE = ['sh', '-c', 'nc -ll -p 8080 -e echo hi & exec sleep 3600'];

  before(async () => {
    cluster = await startCluster();
    eci = new EciClient(cluster.server.sdkConfig(cluster.server.key('faults')));
    always = await create('always', 'Always', SERVE, true);
    const g = await statusIs(always, 'Running', 30_000);
    eipIp = g.internetIp!;
    vpcId = g.vpcId!;
    assert.match(eipIp, /^\d+\.\d+\.\d+\.\d+$/);
    inet = await inetNamespace(cluster.agent.hostId);
    await timeToAnswer();
  });

  after(async () => {
    if (process.env.ECI_TEST_DEBUG) console.error(cluster?.agent.output());
    const pid = cluster?.agent.process.pid;
    if (pid && cluster.agent.process.exitCode === null) process.kill(pid, 'SIGCONT');
    await inet?.destroy();
    await cluster?.destroy();
  });

  it('restarts a SIGKILLed container of a RestartPolicy Always group, and fails a Never group whose container was killed', async () => {
    const never = await create('never', 'Never', ['sleep', '3600'], false);
    await statusIs(never, 'Running', 30_000);
    const pid = await containerPid(always);
    const startedBefore = (await eventsOf(always)).filter((e) => e.reason === 'Started').reduce((n, e) => n + (e.count ?? 1), 0);
    killPid(pid);
    killPid(await containerPid(never));

    const restarted = await until('RestartCount 1', async () => {
      const g = await describeGroup(always);
      return g?.status === 'Running' && g.containers![0].restartCount === 1 && g.containers![0].currentState?.state === 'Running' ? g : undefined;
    }, ONE_RESYNC_MS + 5000);
    const c = restarted.containers![0];
    assert.equal(c.previousState?.state, 'Terminated');
    assert.equal(c.previousState?.exitCode, 137);
    const newPid = await containerPid(always);
    assert.notEqual(newPid, pid, 'a new process runs');
    assert.ok(!existsSync(`/proc/${pid}`), 'the killed process is gone');
    const events = await eventsOf(always);
    const started = events.filter((e) => e.reason === 'Started').reduce((n, e) => n + (e.count ?? 1), 0);
    assert.ok(started > startedBefore || events.some((e) => e.reason === 'BackOff'), `a Started or BackOff event for the restart: ${events.map((e) => `${e.reason}×${e.count}`).join(', ')}`);
    await timeToAnswer();

    const failed = await statusIs(never, 'Failed', ONE_RESYNC_MS + 5000);
    assert.equal(failed.containers![0].currentState?.state, 'Terminated');
    assert.equal(failed.containers![0].currentState?.exitCode, 137);
    assert.equal(failed.containers![0].restartCount, 0);
    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: never }));
    await until('the Never group to disappear', async () => ((await describeGroup(never)) === undefined ? true : undefined), 15_000);
  });

  it('restores a flushed nft table within one resync', async () => {
    const router = routerNetnsName(cluster.agent.hostId, vpcId);
    const pid = await containerPid(always);
    // Let the passes of the previous test settle, then flush and look at once (one shell, no gap for a pass).
    await sleep(1000);
    const flushed = (await run(['sh', '-c', 'nft flush table inet eci && nft list table inet eci'], { netns: router })).stdout;
    const t0 = Date.now();
    assert.doesNotMatch(flushed, /\b[ds]nat (ip )?to\b/, 'the flush removed the NAT rules');
    const cut = !(await answersHi());
    if (process.env.ECI_TEST_DEBUG) console.error(`after the flush: ${cut ? 'cut off' : 'still answering'} at ${Date.now() - t0} ms:\n${flushed}`);
    await until('the EIP to answer again', async () => ((await answersHi()) ? true : undefined), 15_000, 100);
    const took = Date.now() - t0;
    if (process.env.ECI_TEST_DEBUG) console.error(`flushed nft table repaired after ${took} ms`);
    assert.ok(took < ONE_RESYNC_MS, `repaired after ${took} ms, want within one resync (${RESYNC_MS} ms)`);
    const { stdout } = await run(['nft', 'list', 'table', 'inet', 'eci'], { netns: router });
    assert.match(stdout, /\bdnat (ip )?to\b/, 'the NAT rules are back');
    assert.equal(await containerPid(always), pid, 'the container was not restarted');
  });

  it('recreates a deleted router-side veth within one resync, without restarting the container', async () => {
    const router = routerNetnsName(cluster.agent.hostId, vpcId);
    const veth = instanceVeth(cluster.agent.hostId, always).routerSide;
    const pid = await containerPid(always);
    await run(['ip', 'link', 'del', veth], { netns: router });
    const t0 = Date.now();
    const links = (await run(['ip', '-o', 'link', 'show'], { netns: router })).stdout;
    assert.ok(!links.includes(`${veth}@`), 'the veth is gone');
    await until('the EIP to answer again', async () => ((await answersHi()) ? true : undefined), 15_000, 100);
    const took = Date.now() - t0;
    if (process.env.ECI_TEST_DEBUG) console.error(`deleted veth repaired after ${took} ms`);
    assert.ok(took < ONE_RESYNC_MS, `repaired after ${took} ms, want within one resync (${RESYNC_MS} ms)`);
    const { stdout } = await run(['ip', '-o', 'link', 'show', veth], { netns: router });
    assert.match(stdout, /state UP/);
    assert.equal(await containerPid(always), pid, 'the container was not restarted');
  });

  it('recreates groups by their restart policy when every namespace, mount and process of the host is gone, as after a reboot', async () => {
    const never = await create('never-reboot', 'Never', ['sleep', '3600'], false);
    await statusIs(never, 'Running', 30_000);
    const restartsBefore = (await describeGroup(always))!.containers![0].restartCount!;
    const oldPid = await containerPid(always);

    // "Power off": the agent stops, every shim and container process dies, runc's state (tmpfs on a real
    // host), the mounts and every namespace of the host are gone.
    await cluster.agent.stop();
    const groupDirs = join(cluster.agent.stateDir, 'groups');
    for (const id of [always, never]) {
      const shim = readPid(shimFiles(join(groupDirs, id, 'containers', 'app')).shimPid);
      if (shim) killPid(shim);
      killPid(await containerPid(id));
    }
    await until('the containers to stop', async () => {
      const { stdout } = await run(['runc', '--root', cluster.agent.runcRoot, 'list', '--format', 'json']);
      const list = (JSON.parse(stdout || '[]') ?? []) as { id: string; status: string }[];
      return list.every((c) => c.status === 'stopped') ? list : undefined;
    }, 5000).then(async (list) => {
      for (const c of list) await run(['runc', '--root', cluster.agent.runcRoot, 'delete', c.id]);
    });
    for (const m of listMountPoints().filter((p) => p.startsWith(cluster.agent.stateDir)).reverse()) await run(['umount', m]);
    await inet!.destroy();
    inet = undefined;
    const short = shortId(cluster.agent.hostId);
    for (const ns of await listNetns()) if (ns.startsWith(`${short}-`)) await run(['ip', 'netns', 'delete', ns]);
    await destroySandboxHost(cluster.agent.hostId);
    assert.deepEqual((await listNetns()).filter((n) => n.startsWith(`${short}-`) || n === cluster.agent.hostNetns), []);
    assert.ok(!existsSync(`/proc/${oldPid}`));

    // "Power on": the agent starts again on the same state dir.
    await cluster.agent.start();
    inet = await inetNamespace(cluster.agent.hostId);
    const back = await until('the Always group to run again', async () => {
      const g = await describeGroup(always);
      return g?.status === 'Running' && g.containers![0].restartCount! > restartsBefore && g.containers![0].currentState?.state === 'Running' ? g : undefined;
    }, 20_000);
    assert.equal(back.internetIp, eipIp);
    assert.ok((await listNetns()).includes(instanceNetnsName(cluster.agent.hostId, always)), 'its namespace is recreated');
    assert.notEqual(await containerPid(always), oldPid);
    await timeToAnswer();
    const failed = await statusIs(never, 'Failed', 20_000);
    assert.equal(failed.containers![0].currentState?.state, 'Terminated');
    assert.equal(failed.containers![0].restartCount, 0);
    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: never }));
    await until('the Never group to disappear', async () => ((await describeGroup(never)) === undefined ? true : undefined), 15_000);
  });

  it('marks the host and its groups Unhealthy when the agent stops reporting, and Ready when it is back', async () => {
    const store = await openStore(cluster.server.storeUrl);
    try {
      const hostStatus = async () => (await store.get<HostData>(KIND.host, cluster.agent.hostId))?.status;
      const groupHostStatus = async () => (await store.get<ContainerGroupData>(KIND.containerGroup, always))?.data.HostStatus;
      assert.equal(await hostStatus(), 'Ready');
      const pid = cluster.agent.process.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        // A write in flight when the process froze has committed (or not) by now.
        await sleep(300);
        const lastBeat = Date.parse((await store.get<HostData>(KIND.host, cluster.agent.hostId))!.data.LastHeartbeat);
        await until('the host to be Unhealthy', async () => ((await hostStatus()) === 'Unhealthy' ? true : undefined), UNHEALTHY_AFTER_MS + 8000, 250);
        const silence = Date.now() - lastBeat;
        if (process.env.ECI_TEST_DEBUG) console.error(`Unhealthy after ${silence} ms without a heartbeat`);
        // The threshold, give or take the heartbeat's second-precision timestamp and one controller pass.
        assert.ok(silence >= UNHEALTHY_AFTER_MS - 1000 && silence < UNHEALTHY_AFTER_MS + 3000, `Unhealthy after ${silence} ms of silence, threshold ${UNHEALTHY_AFTER_MS} ms`);
        assert.equal(await groupHostStatus(), 'Unhealthy');
        const g = await describeGroup(always);
        assert.equal(g?.status, 'Running', 'the group keeps its status: it is neither lost nor moved');
        const warning = g?.events?.find((e) => e.reason === 'HostUnhealthy');
        assert.equal(warning?.type, 'Warning', `events: ${g?.events?.map((e) => e.reason).join(', ')}`);
        // The containers keep running without their agent.
        assert.ok(existsSync(`/proc/${await containerPid(always)}`));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await until('the host to be Ready again', async () => ((await hostStatus()) === 'Ready' ? true : undefined), 10_000, 250);
      await until('the group to show HostStatus Ready', async () => ((await groupHostStatus()) === 'Ready' ? true : undefined), 5000, 250);
      assert.ok((await eventsOf(always)).some((e) => e.reason === 'HostReady' && e.type === 'Normal'));
    } finally {
      await store.close();
    }
  });

  it('deletes the group and leaves nothing on the host', async () => {
    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: always }));
    await until('the group to disappear', async () => ((await describeGroup(always)) === undefined ? true : undefined), 30_000);
    const left = async () => (await cluster.leftovers()).filter((l) => l !== `netns ${cluster.agent.hostNetns}` && l !== `netns ${inet?.netns}`);
    await until('no leftovers', async () => ((await left()).length === 0 ? true : undefined), 8000).catch(() => undefined);
    assert.deepEqual(await left(), []);
  });
});
