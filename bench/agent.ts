// Data-plane benchmark (issue 3, "Benchmark"): `node bench/agent.ts [--quick]`, root only.
//
// Measures on this machine, in sandbox namespaces only (never the machine's own network namespace):
// 1. create → reachable: from the CreateContainerGroup call (official SDK, AutoCreateEip, busybox
//    `nc -ll -p 8080 -e echo hi`, its declared port opened by the default security group) until a TCP
//    connect to the EIP from an "Internet" namespace attached to the agent's host netns gets "hi";
//    N sequential instances (p50/p95, with a per-step profile), then a burst created at once;
// 2. delete → gone: from DeleteContainerGroup until the instance netns, its router veth, its nft
//    elements, its mounts and its runc state are all gone (polled in the kernel);
// 3. one EIP added / removed with 10,000 loaded in the router's eip maps and host routes: the ops
//    planNetwork emits for it (renderEipDelta, publicRouteLine), run by the agent's op runner (runOp,
//    which keeps a long-lived ip / nft session per router and host namespace).
// The baseline does the same with plain ip / nft / mount / runc commands (bench/baseline/*.sh) on a
// second sandbox host in the same run. Prints a table with the targets (PASS/MISS) and writes
// bench/agent-results.json. Every namespace, process, mount and runc container made here is removed
// in `finally`, also on failure or Ctrl-C, and a final check fails the run if any of it remains.
//
// Profiling switches (environment; they add spawns and so skew the timing a little):
//   BENCH_PROFILE_DEEP=1  per-step marks also for the host route, the nft element, the listening socket,
//                         and router→instance / host→EIP connects (sequential instances only);
//   BENCH_MONITOR=1       `ip -ts monitor` in the router and instance netns of each sequential instance;
//   BENCH_PROBE_TRACE=1   what the prober's connection attempts see (ENETUNREACH, refused, silence);
//   BENCH_PROBE_LATE=1    sequential instances are probed only once Running (see createOne);
//   BENCH_DEBUG=1         the agent's output, and a neighbour/route dump when the instance listens but
//                         the router cannot reach it.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closeSessions, ipBatch, listNetns, nftApply, run, sessionPids } from '../src/agent/net/exec.ts';
import { applyNetwork, runOp } from '../src/agent/net/apply.ts';
import { attachInternetClient, destroySandboxHost, detachInternetClient, ensureSandboxHost, type InternetClient } from '../src/agent/net/host.ts';
import { hostNetnsName, instanceNetnsName, instanceVeth, routerNetnsName, shortId } from '../src/agent/net/names.ts';
import { observeHost } from '../src/agent/net/observe.ts';
import { planNetwork, type NetOp } from '../src/agent/net/plan.ts';
import { placeholderTestPolicy, publicRouteLine, renderElementDelta, renderEipDelta } from '../src/agent/net/render.ts';
import { deriveHostNetwork, type HostNetworkInput, type VpcNet } from '../src/agent/net/topology.ts';
import { hostCgroupPath } from '../src/agent/runtime/bundle.ts';
import { ensureBusyboxImage } from '../src/agent/runtime/busybox-image.ts';
import { removeCgroupTree } from '../src/agent/runtime/runc.ts';
import { listMountPoints } from '../src/agent/runtime/rootfs.ts';
import { RuncRuntime, runcContainerId } from '../src/agent/runtime/runtime.ts';
import type { EipData, VpcData, VSwitchData } from '../src/core/model.ts';
import { $Eci, EciClient } from '../test/helpers/sdk.ts';
import { BIN, startServer, type TestServer } from '../test/helpers/server.ts';
import { cleanupAll, errorText, finishRun, onCleanup } from './cleanup.ts';
import { quantile, round } from './figures.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BASELINE = join(ROOT, 'bench', 'baseline');
const RESULTS = join(ROOT, 'bench', 'agent-results.json');
const REGION = 'cn-hangzhou';
const PORT = 8080;

const TARGETS = { createP50Ms: 150, createP95Ms: 400, createVsBaseline: 2, burstMs: 5000, eipOpMs: 10 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

const stats = (xs: readonly number[]) => ({ n: xs.length, p50: round(quantile(xs, 0.5)), p95: round(quantile(xs, 0.95)), max: round(Math.max(...xs)) });

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- cleanup registry: everything made here is undone in reverse, also on failure / signals ----------

/** Netns name prefixes and directories of this run, for the final leftover check. */
const ours = { prefixes: new Set<string>(), dirs: new Set<string>() };

async function leftoversOfRun(): Promise<string[]> {
  const found: string[] = [];
  const prefixes = [...ours.prefixes];
  for (const ns of await listNetns()) if (prefixes.some((p) => ns.startsWith(p))) found.push(`netns ${ns}`);
  for (const pid of sessionPids()) found.push(`tool session pid ${pid}`);
  const dirs = [...ours.dirs];
  for (const m of listMountPoints()) if (dirs.some((d) => m.startsWith(d))) found.push(`mount ${m}`);
  for (const d of dirs) if (existsSync(d)) found.push(`dir ${d}`);
  return found;
}

// ---- the prober: one long-lived process in the Internet namespace -----------------------------------
//
// `node bench/agent.ts --prober` reads `<key> <ip> <port> <everyMs>` lines and, for each, opens a new
// TCP connection every `everyMs` (each kept up to 1.5 s, so a SYN dropped before the DNAT element
// exists does not hold the measurement for a retransmit) until one reads "hi"; then prints
// `<key> <epoch ms>`. Overlapping attempts keep the resolution at `everyMs`.

async function proberMain(): Promise<void> {
  const net = await import('node:net');
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [key, host, port, every] = line.trim().split(/\s+/);
    if (!key) return;
    let done = false;
    const t0 = performance.now();
    let last = '';
    // BENCH_PROBE_TRACE=1: each change of what the attempts see, for profiling.
    const trace = (what: string) => {
      if (!process.env.BENCH_PROBE_TRACE || what === last) return;
      last = what;
      process.stderr.write(`probe ${key} +${(performance.now() - t0).toFixed(0)} ms: ${what}\n`);
    };
    const sockets = new Set<import('node:net').Socket>();
    const attempt = () => {
      if (done) return;
      const s = net.connect({ host, port: Number(port) });
      sockets.add(s);
      const kill = setTimeout(() => {
        trace('no answer in 1.5 s');
        s.destroy();
      }, 1500);
      let got = '';
      s.on('data', (c) => {
        got += c.toString();
        if (!done && got.includes('hi')) {
          done = true;
          process.stdout.write(`${key} ${performance.timeOrigin + performance.now()}\n`);
          clearInterval(timer);
          for (const x of sockets) x.destroy();
        }
      });
      s.on('connect', () => trace('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => trace(e.code ?? 'error'));
      s.on('close', () => {
        clearTimeout(kill);
        sockets.delete(s);
      });
    };
    const timer = setInterval(attempt, Number(every) || 10);
    attempt();
  });
  rl.on('close', () => process.exit(0));
}

interface Prober {
  /** Resolves with the epoch ms at which `ip:port` first answered "hi". */
  reachable(key: string, ip: string, port: number, everyMs: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

function startProber(netns: string): Prober {
  const child = spawn('nsenter', [`--net=/var/run/netns/${netns}`, '--', process.execPath, '--disable-warning=ExperimentalWarning', import.meta.filename, '--prober'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting = new Map<string, (t: number) => void>();
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [key, t] = buf.slice(0, i).split(' ');
      buf = buf.slice(i + 1);
      waiting.get(key)?.(Number(t));
      waiting.delete(key);
    }
  });
  return {
    reachable(key, ip, port, everyMs, timeoutMs) {
      return new Promise((res, rej) => {
        const timer = setTimeout(() => {
          waiting.delete(key);
          rej(new Error(`${ip}:${port} (${key}) did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(key, (t) => {
          clearTimeout(timer);
          res(t);
        });
        child.stdin!.write(`${key} ${ip} ${port} ${everyMs}\n`);
      });
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

// ---- the agent side: `eci server` + `eci agent --sandbox-host`, driven by the official SDK ------------

interface Cluster {
  server: TestServer;
  hostId: string;
  hostNetns: string;
  stateDir: string;
  runcRoot: string;
  output(): string;
}

async function startBenchCluster(): Promise<Cluster> {
  const server = await startServer({ config: { quotas: { eips: 500 } } });
  onCleanup('eci server', () => server.close());
  const stateDir = mkdtempSync(join(tmpdir(), 'eci-bench-agent-'));
  ours.dirs.add(stateDir);
  const out = { text: '' };
  // Capacity large enough for the burst (placement must never be what limits it).
  const child: ChildProcess = spawn(BIN, ['agent', '--store', server.storeUrl, '--state-dir', stateDir, '--zone', 'cn-hangzhou-h', '--cpu', '64', '--memory', '128', '--sandbox-host'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out.text += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out.text += c));
  let hostId = '';
  const agentStateDir = join(stateDir, 'agent');
  // Registered before the agent prints anything, so a failed start is cleaned up too.
  onCleanup('eci agent and its host', async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    if (!hostId && existsSync(join(agentStateDir, 'host-id'))) hostId = readFileSync(join(agentStateDir, 'host-id'), 'utf8').trim();
    if (hostId) {
      const runtime = new RuncRuntime({ stateDir: agentStateDir, hostId });
      for (const g of new Set((await runtime.list()).map((c) => c.groupId))) await runtime.removeGroup(g).catch(() => undefined);
      const prefix = `${shortId(hostId)}-`;
      for (const ns of await listNetns()) if (ns.startsWith(prefix)) await run(['ip', 'netns', 'delete', ns]).catch(() => undefined);
      removeCgroupTree(hostCgroupPath(hostId));
      await destroySandboxHost(hostId).catch(() => undefined);
    }
    for (const m of listMountPoints().filter((p) => p.startsWith(stateDir)).reverse()) await run(['umount', '--lazy', m]).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });
  const m = await new Promise<RegExpExecArray>((res, rej) => {
    const re = /eci agent listening on [\d.]+:\d+ \(pid \d+, host (host-[a-z2-7]+), zone [^,]+, host netns ([^)]+)\)/;
    const timer = setTimeout(() => rej(new Error(`eci agent did not start:\n${out.text}`)), 30_000);
    const check = () => {
      const r = re.exec(out.text);
      if (r) {
        clearTimeout(timer);
        res(r);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => rej(new Error(`eci agent exited ${code}:\n${out.text}`)));
  });
  hostId = m[1];
  ours.prefixes.add(`${shortId(hostId)}-`).add(m[2]);
  return { server, hostId, hostNetns: m[2], stateDir: agentStateDir, runcRoot: join(agentStateDir, 'runc'), output: () => out.text };
}

interface CreateSample {
  total: number;
  /** Per step, ms after the CreateContainerGroup call (sequential runs only). */
  steps: Record<string, number>;
}

interface Instance {
  id: string;
  eip: string;
  vpcId: string;
}

function agentBench(cluster: Cluster, prober: Prober) {
  const key = cluster.server.key('bench');
  const eci = new EciClient(cluster.server.sdkConfig(key));
  const raw = cluster.server.client(key);
  let seq = 0;

  const describe = async (id: string) =>
    (await raw.call('eci', 'DescribeContainerGroups', { RegionId: REGION, ContainerGroupIds: JSON.stringify([id]) })).ContainerGroups?.[0] as Record<string, any> | undefined;

  const create = async (): Promise<string> => {
    const r = await eci.createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: `bench-${++seq}`,
        cpu: 0.25,
        memory: 0.25,
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 0,
        autoCreateEip: true,
        eipBandwidth: 100,
        container: [
          new $Eci.CreateContainerGroupRequestContainer({
            name: 'app',
            image: 'busybox',
            command: ['nc', '-ll', '-p', String(PORT), '-e', 'echo', 'hi'],
            port: [new $Eci.CreateContainerGroupRequestContainerPort({ port: PORT, protocol: 'TCP' })],
          }),
        ],
      }),
    );
    return r.body!.containerGroupId!;
  };

  /** The group's EIP address (allocated by the create call itself) and VPC. */
  const instanceOf = async (id: string): Promise<Instance> => {
    const g = await describe(id);
    const eipId = g?.EipInstanceId as string;
    const e = (await raw.call('vpc', 'DescribeEipAddresses', { RegionId: REGION, AllocationId: eipId })).EipAddresses.EipAddress[0] as { IpAddress: string };
    return { id, eip: e.IpAddress, vpcId: g?.VpcId as string };
  };

  /** Kernel objects of one instance that still exist (cheap checks first; spawns only once they pass). */
  const leftovers = async (inst: Instance): Promise<string[]> => {
    const left: string[] = [];
    const ns = instanceNetnsName(cluster.hostId, inst.id);
    if (existsSync(`/var/run/netns/${ns}`)) left.push('netns');
    if (existsSync(join(cluster.runcRoot, runcContainerId(inst.id, 'app')))) left.push('runc state');
    if (listMountPoints().some((m) => m.includes(inst.id))) left.push('mounts');
    if (left.length) return left;
    const router = routerNetnsName(cluster.hostId, inst.vpcId);
    if (existsSync(`/var/run/netns/${router}`)) {
      const veth = instanceVeth(cluster.hostId, inst.id).routerSide;
      const links = await run(['ip', '-o', 'link', 'show'], { netns: router }).catch(() => ({ stdout: '' }));
      if (links.stdout.includes(`${veth}@`) || links.stdout.includes(`${veth}:`)) left.push('veth');
      const elems = await run(['nft', 'list', 'map', 'inet', 'eci', 'eip_in'], { netns: router }).catch(() => ({ stdout: '' }));
      if (new RegExp(`\\b${inst.eip.replaceAll('.', '\\.')} :`).test(elems.stdout)) left.push('nft element');
    }
    return left;
  };

  return {
    /** One instance, sequential, with a per-step profile (polled every 10 ms). */
    async createOne(): Promise<{ sample: CreateSample; inst: Instance }> {
      const t0 = now();
      const steps: Record<string, number> = {};
      let id = '';
      let known: Instance | undefined;
      const deep = !!process.env.BENCH_PROFILE_DEEP;
      let dumped = false;
      const monitors = new Map<string, { child: ChildProcess; text: string }>();
      let stop = false;
      const mark = (k: string) => (steps[k] ??= round(now() - t0));
      const profiler = (async () => {
        while (!stop) {
          if (id) {
            if (existsSync(`/var/run/netns/${instanceNetnsName(cluster.hostId, id)}`)) mark('netns');
            if (existsSync(join(cluster.runcRoot, runcContainerId(id, 'app'), 'state.json'))) mark('runc state');
            const g = await describe(id).catch(() => undefined);
            if (g && g.Status !== 'Scheduling') mark('placed');
            if (g?.Status === 'Running') mark('Running');
            if (process.env.BENCH_MONITOR && known) {
              for (const n of [routerNetnsName(cluster.hostId, known.vpcId), instanceNetnsName(cluster.hostId, id)])
                if (!monitors.has(n) && existsSync(`/var/run/netns/${n}`)) {
                  const m = spawn('nsenter', [`--net=/var/run/netns/${n}`, '--', 'ip', '-ts', 'monitor', 'link', 'address', 'route', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
                  const rec = { child: m, text: `started +${(now() - t0).toFixed(0)} ms at ${new Date().toISOString()}\n` };
                  m.stdout.setEncoding('utf8').on('data', (c: string) => (rec.text += c));
                  monitors.set(n, rec);
                }
            }
            // BENCH_PROFILE_DEEP=1: also the kernel objects on the way (spawns; skews the timing a little).
            if (deep && known) {
              const router = routerNetnsName(cluster.hostId, known.vpcId);
              const ns = instanceNetnsName(cluster.hostId, id);
              const [route, elem, listen] = await Promise.all([
                run(['ip', 'route', 'show', `${known.eip}/32`], { netns: cluster.hostNetns }).then((r) => r.stdout.trim() !== '', () => false),
                run(['nft', 'list', 'map', 'inet', 'eci', 'eip_in'], { netns: router }).then((r) => r.stdout.includes(`${known!.eip} :`), () => false),
                run(['ss', '-ltnH'], { netns: ns }).then((r) => r.stdout.includes(`:${PORT}`), () => false),
              ]);
              if (route) mark('host route');
              if (elem) mark('nft element');
              if (listen) mark('listening');
              if (listen) {
                const hi = (netns: string, ip: string) =>
                  run(['busybox', 'nc', '-w', '1', ip, String(PORT)], { netns, timeoutMs: 300 }).then((r) => r.stdout.includes('hi'), () => false);
                const g2 = await describe(id).catch(() => undefined);
                const [fromRouter, fromHost] = await Promise.all([hi(router, g2?.IntranetIp as string), hi(cluster.hostNetns, known.eip)]);
                if (!fromRouter && process.env.BENCH_DEBUG && !dumped) {
                  dumped = true;
                  const sh = async (netns: string, cmd: string) => (await run(['sh', '-c', cmd], { netns }).catch((e: unknown) => ({ stdout: errorText(e) }))).stdout;
                  console.error(`--- ${id} listening, router→ip fails, +${(now() - t0).toFixed(0)} ms\nrouter:\n${await sh(router, 'ip neigh; ip route; ip -br link; sysctl -a 2>/dev/null | grep -E "proxy_(arp|delay)" | grep -v " = 0$" ')}\ninstance:\n${await sh(ns, 'ip neigh; ip route; ip -br addr; ss -ltn')}`);
                }
                if (fromRouter) mark('router→ip');
                if (fromHost) mark('host→eip');
              }
            }
          }
          await sleep(10);
        }
      })();
      try {
        id = await create();
        mark('api');
        const inst = await instanceOf(id);
        known = inst;
        mark('eip known');
        // BENCH_PROBE_LATE=1: start probing only once the group is Running (no traffic arrives while the
        // instance's link comes up), to separate the data path's own delay from the probe's effect on it.
        if (process.env.BENCH_PROBE_LATE) await until('Running', () => (steps['Running'] !== undefined ? true : undefined), 20_000);
        const t = await prober.reachable(id, inst.eip, PORT, 10, 20_000);
        steps['answered'] = round(t - t0);
        return { sample: { total: t - t0, steps }, inst };
      } finally {
        stop = true;
        await profiler;
        for (const [n, m] of monitors) {
          m.child.kill('SIGKILL');
          console.error(`=== ip monitor in ${n} (t0 ${new Date(performance.timeOrigin + t0).toISOString()}, steps ${JSON.stringify(steps)}):\n${m.text}`);
        }
      }
    },

    /** `count` created at once; ms until every one answered. */
    async burst(count: number): Promise<{ ms: number; each: number[]; insts: Instance[] }> {
      const t0 = now();
      const insts = await Promise.all(
        Array.from({ length: count }, async () => {
          const id = await create();
          const inst = await instanceOf(id);
          const t = await prober.reachable(id, inst.eip, PORT, 25, 60_000);
          return { inst, t: t - t0 };
        }),
      );
      const each = insts.map((x) => x.t);
      return { ms: Math.max(...each), each, insts: insts.map((x) => x.inst) };
    },

    /** DeleteContainerGroup of each, then ms until all their kernel objects are gone. */
    async deleteAll(insts: readonly Instance[], timeoutMs: number): Promise<{ ms: number; each: number[] }> {
      const t0 = now();
      const each = await Promise.all(
        insts.map(async (inst) => {
          await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: inst.id }));
          await until(`${inst.id} gone from the kernel`, async () => ((await leftovers(inst)).length ? undefined : true), timeoutMs, insts.length > 1 ? 50 : 10);
          return now() - t0;
        }),
      );
      return { ms: Math.max(...each), each };
    },
  };
}

// ---- the standalone sandbox host: the baseline and the 10k-EIP measurement --------------------------

const randomHostId = () => `host-${(process.pid % 46656).toString(36).padStart(3, '0')}${Math.random().toString(36).slice(2, 7).padEnd(5, 'x')}`.replace(/[^a-z0-9-]/g, 'x');

interface Sandbox {
  hostId: string;
  hostNs: string;
  vpc: VpcNet;
  inet: InternetClient;
}

/** A host netns with one VPC router made by the agent's planner (table inet eci, uplink, one instance). */
async function startSandbox(): Promise<Sandbox> {
  const hostId = randomHostId();
  ours.prefixes.add(`${shortId(hostId)}-`).add(hostNetnsName(hostId));
  onCleanup(`sandbox ${hostId}`, async () => {
    const prefix = `${shortId(hostId)}-`;
    for (const ns of await listNetns()) if (ns.startsWith(prefix)) await run(['ip', 'netns', 'delete', ns]).catch(() => undefined);
    await destroySandboxHost(hostId);
  });
  const hostNs = await ensureSandboxHost(hostId);
  const vpc: VpcData = { VpcId: 'vpc-bench', VpcName: '', Description: '', CidrBlock: '10.0.0.0/8', VRouterId: 'vrt-bench', RouteTableId: 'vtb-bench', IsDefault: false, ResourceGroupId: '', CreationTime: '2026-01-01T00:00:00Z', Tags: [] };
  const vsw: VSwitchData = { VSwitchId: 'vsw-bench', VpcId: 'vpc-bench', ZoneId: 'cn-hangzhou-h', CidrBlock: '10.0.1.0/24', VSwitchName: '', Description: '', IsDefault: false, CreationTime: '2026-01-01T00:00:00Z', Tags: [] };
  const eip: EipData = {
    AllocationId: 'eip-bench0', IpAddress: '203.0.113.2', InstanceId: 'eci-bench0', InstanceType: 'EciInstance', InstanceRegionId: REGION, PrivateIpAddress: '', VpcId: 'vpc-bench',
    Bandwidth: 5, InternetChargeType: 'PayByTraffic', InstanceChargeType: 'PostPaid', ISP: 'BGP', Name: '', Description: '', BandwidthPackageId: '', BandwidthPackageBandwidth: '',
    PublicIpAddressPoolId: '', AllocationTime: '2026-01-01T00:00:00Z', Mode: 'NAT', AutoCreatedBy: '', Tags: [],
  };
  const input: HostNetworkInput = {
    hostId,
    hostNetns: hostNs,
    groups: [{ ContainerGroupId: 'eci-bench0', ContainerGroupName: 'bench0', VpcId: 'vpc-bench', VSwitchId: 'vsw-bench', SecurityGroupIds: [], IntranetIp: '10.0.1.2', InternetIp: '', EipAllocationId: 'eip-bench0' }],
    vpcs: [vpc],
    vSwitches: [vsw],
    eips: [{ status: 'InUse', data: eip }],
    natGateways: [],
    snatEntries: [],
    forwardEntries: [],
  };
  const desired = deriveHostNetwork(input);
  const policy = (v: VpcNet) => placeholderTestPolicy(v, [{ protocol: 'tcp', port: PORT }]);
  await applyNetwork(planNetwork(desired, await observeHost(hostNs, desired.prefix), policy));
  const inet = await attachInternetClient(hostId, '198.51.100.0', 0);
  onCleanup('sandbox Internet client', () => detachInternetClient(inet));
  return { hostId, hostNs, vpc: desired.vpcs[0], inet };
}

/** The baseline: create.sh / delete.sh per instance, on the sandbox's router. */
async function baselineBench(sb: Sandbox, prober: Prober, n: number): Promise<{ create: number[]; del: number[] }> {
  const work = mkdtempSync(join(tmpdir(), 'eci-bench-baseline-'));
  ours.dirs.add(work);
  const runcRoot = join(work, 'runc');
  mkdirSync(runcRoot);
  const live = new Map<string, string[]>();
  onCleanup('baseline containers', async () => {
    for (const args of live.values()) await run(['sh', join(BASELINE, 'delete.sh'), ...args]).catch(() => undefined);
    for (const m of listMountPoints().filter((p) => p.startsWith(work)).reverse()) await run(['umount', '--lazy', m]).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });
  const rootfs = ensureBusyboxImage(join(work, 'image'));
  // The same busybox bundle: runc's default spec, the instance's netns, the same command.
  const spec = JSON.parse((await run(['runc', 'spec', '--bundle', work])).stdout || readFileSync(join(work, 'config.json'), 'utf8')) as Record<string, any>;
  spec.process.terminal = false;
  spec.process.args = ['nc', '-ll', '-p', String(PORT), '-e', 'echo', 'hi'];
  spec.process.env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
  spec.root = { path: 'rootfs', readonly: false };
  spec.hostname = 'bench';
  spec.linux.namespaces = (spec.linux.namespaces as { type: string }[]).map((x) => (x.type === 'network' ? { type: 'network', path: '__NETNS__' } : x));
  writeFileSync(join(work, 'config.template.json'), JSON.stringify(spec, null, 2));

  const short = shortId(sb.hostId);
  const router = sb.vpc.netns;
  const u = sb.vpc.uplink;
  const create: number[] = [];
  const del: number[] = [];
  // Index 0 warms up (first runc run, first ARP of the router), as on the agent side; not counted.
  for (let i = 0; i <= n; i++) {
    const ns = `${short}-base-${i}`;
    const veth = `b${short}${i}`.slice(0, 15);
    const ip = `10.0.1.${10 + i}`;
    const eip = `203.0.113.${100 + i}`;
    const id = `${short}-base-${i}`;
    const bundle = join(work, `b${i}`);
    const delArgs = [sb.hostNs, router, ns, veth, ip, eip, runcRoot, bundle, id];
    live.set(id, delArgs);
    // Probing starts with the create, as on the agent side.
    const t0 = now();
    const answered = prober.reachable(`base${i}`, eip, PORT, 10, 10_000);
    await run(['sh', join(BASELINE, 'create.sh'), sb.hostNs, router, u.hostSide, u.routerIp, ns, veth, ip, '10.0.1.1', eip, runcRoot, bundle, id, rootfs]);
    const t = await answered;
    const d0 = now();
    await run(['sh', join(BASELINE, 'delete.sh'), ...delArgs]);
    live.delete(id);
    if (i === 0) continue;
    create.push(t - t0);
    del.push(now() - d0);
  }
  return { create, del };
}

/** One EIP added and removed with 10,000 loaded: ours (agent renderers + exec) and the baseline script. */
async function eipBench(sb: Sandbox, reps: number) {
  const v = sb.vpc;
  const router = v.netns;
  // 10,000 EIP ↔ private pairs. Not public addresses: 10.128.0.0/16 (the "EIPs") ↔ 10.64.0.0/16, only in
  // the sandbox's own namespaces, with no route out.
  const loaded = Array.from({ length: 10_000 }, (_, i) => ({ ip: `10.128.${i >> 8}.${i & 255}`, privateIp: `10.64.${i >> 8}.${i & 255}` }));
  const t0 = now();
  for (let k = 0; k < loaded.length; k += 2500) {
    const chunk = loaded.slice(k, k + 2500);
    await nftApply(router, renderElementDelta({ eip_in: new Map(chunk.map((e) => [e.ip, e.privateIp])), eip_out: new Map(chunk.map((e) => [e.privateIp, e.ip])) }, {}));
  }
  await ipBatch(sb.hostNs, loaded.map((e) => publicRouteLine(v, e.ip)));
  const loadMs = now() - t0;
  const count = (await run(['nft', 'list', 'map', 'inet', 'eci', 'eip_in'], { netns: router })).stdout.match(/ : /g)?.length ?? 0;
  const routes = (await run(['ip', 'route', 'show'], { netns: sb.hostNs })).stdout.split('\n').filter((l) => l.startsWith('10.128.')).length;
  if (count < 10_000 || routes < 10_000) throw new Error(`loaded only ${count} elements / ${routes} routes`);

  const one = { ip: '10.129.0.1', privateIp: '10.65.0.1' };
  const ours = { add: [] as number[], remove: [] as number[], addNft: [] as number[], addRoute: [] as number[] };
  const base = { add: [] as number[], remove: [] as number[] };
  // The ops exactly as planNetwork emits them for one EIP bound / unbound (the element delta in the
  // router, the public route in the host netns; the removal's route as its tolerant stale-route delete),
  // run by the agent's own op runner (runOp: the long-lived per-namespace tool sessions).
  const addNft: NetOp = { type: 'nft', netns: router, script: renderEipDelta([one], []) };
  const addRoute: NetOp = { type: 'ip', netns: sb.hostNs, lines: [publicRouteLine(v, one.ip)] };
  const delNft: NetOp = { type: 'nft', netns: router, script: renderEipDelta([], [one]) };
  const delRoute: NetOp = { type: 'ip', netns: sb.hostNs, lines: [`route del ${one.ip}/32 via ${v.uplink.routerIp} dev ${v.uplink.hostSide}`], bestEffort: true };
  for (let r = 0; r < reps; r++) {
    let t = now();
    await runOp(addNft);
    const tn = now();
    await runOp(addRoute);
    const te = now();
    ours.add.push(te - t);
    ours.addNft.push(tn - t);
    ours.addRoute.push(te - tn);
    t = now();
    await runOp(delNft);
    await runOp(delRoute);
    ours.remove.push(now() - t);

    t = now();
    await run(['sh', join(BASELINE, 'eip-10k.sh'), 'add', sb.hostNs, router, v.uplink.hostSide, v.uplink.routerIp, one.ip, one.privateIp]);
    base.add.push(now() - t);
    t = now();
    await run(['sh', join(BASELINE, 'eip-10k.sh'), 'del', sb.hostNs, router, v.uplink.hostSide, v.uplink.routerIp, one.ip, one.privateIp]);
    base.remove.push(now() - t);
  }
  // The removals did remove (their route delete tolerates absence, as the planner's does).
  const left = (await run(['ip', 'route', 'show', `${one.ip}/32`], { netns: sb.hostNs })).stdout.trim();
  const elem = (await run(['nft', 'list', 'map', 'inet', 'eci', 'eip_in'], { netns: router })).stdout.includes(`${one.ip} :`);
  if (left || elem) throw new Error(`EIP ${one.ip} still present after its removal: route ${left || 'gone'}, element ${elem ? 'present' : 'gone'}`);
  // For the record: what one agent pass pays to observe a router holding 10,000 elements.
  const observe: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = now();
    await observeHost(sb.hostNs, `${shortId(sb.hostId)}-`);
    observe.push(now() - t);
  }
  // Unload (the sandbox is deleted anyway; this keeps its teardown fast).
  await ipBatch(sb.hostNs, loaded.map((e) => `route del ${e.ip}/32`)).catch(() => undefined);
  return { loadMs, ours, base, observe };
}

// ---- main ------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  if (process.getuid?.() !== 0) {
    console.log('bench:agent skipped: needs root (network namespaces, nftables, runc).');
    return;
  }
  const N = quick ? 5 : 15;
  const BURST = quick ? 10 : 50;
  const EIP_REPS = quick ? 20 : 50;
  const started = Date.now();
  console.log(`bench:agent: ${N} sequential instances, a burst of ${BURST}, ${EIP_REPS} EIP add/remove at 10,000 loaded; ${cpus().length} CPUs${quick ? ' (--quick)' : ''}`);

  const results: Record<string, any> = { when: new Date().toISOString(), quick, cpus: cpus().length, targets: TARGETS };
  try {
    // 1 + 2: the agent.
    const cluster = await startBenchCluster();
    if (process.env.BENCH_DEBUG) onCleanup('agent output', async () => console.error(`--- agent output:\n${cluster.output()}`));
    const inet = await attachInternetClient(cluster.hostId, '198.51.100.0', 0);
    onCleanup('agent Internet client', () => detachInternetClient(inet));
    const prober = startProber(inet.netns);
    onCleanup('prober', () => prober.close());
    const ours = agentBench(cluster, prober);

    // Warm-up (first VPC router, image, caches), not counted.
    const warm = await ours.createOne();
    await ours.deleteAll([warm.inst], 30_000);

    const samples: CreateSample[] = [];
    const deletes: number[] = [];
    for (let i = 0; i < N; i++) {
      const { sample, inst } = await ours.createOne();
      samples.push(sample);
      deletes.push((await ours.deleteAll([inst], 30_000)).ms);
      process.stdout.write(`  instance ${i + 1}/${N}: reachable after ${sample.total.toFixed(0)} ms, gone ${deletes.at(-1)!.toFixed(0)} ms after delete\n`);
    }
    const profile: Record<string, { p50: number; p95: number }> = {};
    for (const k of ['api', 'eip known', 'placed', 'netns', 'host route', 'nft element', 'runc state', 'listening', 'router→ip', 'host→eip', 'Running', 'answered']) {
      const xs = samples.map((s) => s.steps[k]).filter((x) => x !== undefined);
      if (xs.length) profile[k] = { p50: round(quantile(xs, 0.5)), p95: round(quantile(xs, 0.95)) };
    }
    results.agent = { create: stats(samples.map((s) => s.total)), delete: stats(deletes), profile, samples };

    const burst = await ours.burst(BURST);
    process.stdout.write(`  burst of ${BURST}: all reachable after ${burst.ms.toFixed(0)} ms\n`);
    const burstDel = await ours.deleteAll(burst.insts, 60_000);
    process.stdout.write(`  burst of ${BURST}: all gone ${burstDel.ms.toFixed(0)} ms after delete\n`);
    results.agent.burst = { count: BURST, allReachableMs: round(burst.ms), each: stats(burst.each), allGoneMs: round(burstDel.ms) };
    await prober.close();

    // Baseline and 3: a standalone sandbox host.
    const sb = await startSandbox();
    const sbProber = startProber(sb.inet.netns);
    onCleanup('baseline prober', () => sbProber.close());
    const baseline = await baselineBench(sb, sbProber, N);
    results.baseline = { create: stats(baseline.create), delete: stats(baseline.del), samples: { create: baseline.create.map(round), delete: baseline.del.map(round) } };
    const eips = await eipBench(sb, EIP_REPS);
    results.eip10k = {
      loadMs: round(eips.loadMs),
      ours: { add: stats(eips.ours.add), remove: stats(eips.ours.remove), addNft: stats(eips.ours.addNft), addRoute: stats(eips.ours.addRoute) },
      baseline: { add: stats(eips.base.add), remove: stats(eips.base.remove) },
      agentObserveMs: stats(eips.observe),
    };
  } finally {
    await cleanupAll();
    await closeSessions();
  }
  await finishRun({ results, file: RESULTS, started, leftovers: leftoversOfRun, report: () => report(results, quick) });
}

function report(r: Record<string, any>, quick: boolean): void {
  const a = r.agent;
  const b = r.baseline;
  const e = r.eip10k;
  const row = (name: string, oursV: string, baseV: string) => console.log(`  ${name.padEnd(44)} ${oursV.padStart(20)} ${baseV.padStart(20)}`);
  const ms = (x: { p50: number; p95: number }) => `${x.p50} / ${x.p95} ms`;
  console.log(`\nData plane (p50 / p95)                        ${'OpenECI'.padStart(20)} ${'baseline (sh)'.padStart(20)}`);
  row(`create → EIP answers TCP (n=${a.create.n})`, ms(a.create), ms(b.create));
  row(`delete → kernel objects gone (n=${a.delete.n})`, ms(a.delete), ms(b.delete));
  row(`${a.burst.count} created at once → all answer`, `${a.burst.allReachableMs} ms`, '');
  row(`${a.burst.count} deleted at once → all gone`, `${a.burst.allGoneMs} ms`, '');
  row('one EIP add, 10,000 loaded', ms(e.ours.add), ms(e.baseline.add));
  row('  of which nft element add', ms(e.ours.addNft), '');
  row('  of which host route', ms(e.ours.addRoute), '');
  row('one EIP remove, 10,000 loaded', ms(e.ours.remove), ms(e.baseline.remove));
  row('agent observe of the host at 10,000 loaded', ms(e.agentObserveMs), '');
  console.log(`\nWhere the create time goes (ms after the CreateContainerGroup call, p50 / p95):`);
  for (const [k, v] of Object.entries(a.profile as Record<string, { p50: number; p95: number }>)) console.log(`  ${k.padEnd(12)} ${ms(v)}`);

  const ratio = a.create.p50 / b.create.p50;
  const eipWorst = Math.max(e.ours.add.p95, e.ours.remove.p95);
  const checks: [string, boolean | undefined][] = [
    [`create → reachable p50 ${a.create.p50} ms ≤ ${TARGETS.createP50Ms} ms`, a.create.p50 <= TARGETS.createP50Ms],
    [`create → reachable p95 ${a.create.p95} ms ≤ ${TARGETS.createP95Ms} ms`, a.create.p95 <= TARGETS.createP95Ms],
    [`create → reachable p50 within ${TARGETS.createVsBaseline}× the baseline (${ratio.toFixed(2)}×)`, ratio <= TARGETS.createVsBaseline],
    [`${a.burst.count} instances reachable in ${a.burst.allReachableMs} ms ≤ ${TARGETS.burstMs} ms${quick ? ' (--quick: not the 50 of the target)' : ''}`, quick ? undefined : a.burst.allReachableMs <= TARGETS.burstMs],
    [`one EIP added / removed at 10,000 loaded: p95 ${eipWorst} ms ≤ ${TARGETS.eipOpMs} ms`, eipWorst <= TARGETS.eipOpMs],
  ];
  console.log('\nTargets:');
  for (const [what, ok] of checks) console.log(`  ${ok === undefined ? 'n/a ' : ok ? 'PASS' : 'MISS'}  ${what}`);
  r.verdicts = Object.fromEntries(checks.map(([w, ok]) => [w, ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS']));
}

if (process.argv.includes('--prober')) {
  void proberMain();
} else {
  main().catch(async (e: unknown) => {
    console.error(`bench:agent failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanupAll();
    process.exitCode = 1;
  });
}
