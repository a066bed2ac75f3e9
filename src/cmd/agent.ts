// Wiring of the host agent: registration, the runc runtime, the network, and the group driver the agent
// loop (src/agent/agent.ts) calls. Used by `eci agent` and by `eci dev` (in-process, own host netns).

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startAgent, type GroupDriver, type GroupObservation, type RunningAgent } from '../agent/agent.ts';
import { AgentApiError } from '../agent/api.ts';
import { json, listNetns, nftApply, run, tcBatch } from '../agent/net/exec.ts';
import {
  DEFAULT_EIP_MBIT,
  DOWNLOAD_PRIO_MAP,
  planShaping,
  renderPrioDelta,
  renderPrioMap,
  renderPrioStatement,
  renderShapingClasses,
  renderShapingDelta,
  renderShapingRoot,
  UPLOAD_PRIO_MAP,
  type EipShape,
  type PackageShape,
  type ShapePlan,
} from '../agent/net/bandwidth.ts';
import { destroySandboxHost, ensureSandboxHost } from '../agent/net/host.ts';
import { instanceNetnsName, shortId } from '../agent/net/names.ts';
import { HostObserver } from '../agent/net/observe.ts';
import { convergeNetwork } from '../agent/net/converge.ts';
import { securityGroupPolicy } from '../agent/net/render.ts';
import { deriveHostNetwork, type VpcNet } from '../agent/net/topology.ts';
import { ensureHostId, heartbeat, registerHost } from '../agent/registration.ts';
import { startMetricsSampler } from '../agent/metrics.ts';
import { ensureBusyboxImage, ImageNotFoundError } from '../agent/runtime/busybox-image.ts';
import {
  containerKey,
  planInstance,
  recoverMemory,
  type HookResult,
  type InstanceDesired,
  type InstanceMemory,
  type ProbeResult,
  type RuntimeState,
  type StartError,
} from '../agent/runtime/lifecycle.ts';
import { LogNotFoundError } from '../agent/runtime/logs.ts';
import { runHandler } from '../agent/runtime/probes.ts';
import { RuncRuntime, type ContainerRunStatus } from '../agent/runtime/runtime.ts';
import { PullManager, type PullStore } from '../agent/runtime/pulls.ts';
import { HostImages } from '../agent/runtime/host-images.ts';
import { ImageAccess } from '../agent/runtime/image-access.ts';
import { ImageStore } from '../agent/images/image-store.ts';
import { createImageCacheSync, type CacheImagePuller } from '../agent/image-caches.ts';
import { hostCgroupPath } from '../agent/runtime/bundle.ts';
import { removeCgroupTree } from '../agent/runtime/runc.ts';
import { ApiError } from '../core/errors.ts';
import {
  KIND,
  type BandwidthPackageData,
  type ContainerGroupData,
  type ContainerSpec,
  type ContainerStatusData,
  type EipData,
  type ForwardEntryData,
  type HostData,
  type NatGatewayData,
  type SecurityGroupData,
  type SnatEntryData,
  type VpcData,
  type VSwitchData,
} from '../core/model.ts';
import type { Resource, Store, Tx } from '../store/store.ts';

export interface HostAgentOptions {
  readonly store: Store;
  /** The agent's own state (host id, images, runc root, group files and logs). */
  readonly stateDir: string;
  readonly regionId: string;
  readonly zoneId: string;
  readonly cpu: number;
  readonly memory: number;
  /**
   * Where the host's kernel objects live: null = the agent's own namespace (production); a name = that
   * netns (created if missing, kept on exit); 'own' = the sandbox `eci-host-<id>` (net/host.ts), created
   * now and removed by destroy().
   */
  readonly hostNetns: string | null | 'own';
  readonly apiPort?: number;
  readonly log?: (line: string) => void;
  /** The image store's size budget in bytes (GC removes unused images beyond it). Default 20 GiB. */
  readonly imageBudgetBytes?: number;
}

/** How often the image store is collected down to its budget. */
const IMAGE_GC_MS = 60_000;
/** How often the region's image caches are reconciled on this host (a pass with nothing to do is one read). */
const IMAGE_CACHE_SYNC_MS = 1_000;

/** Lease holder names of an image cache's images in the store: `imc:<cache id>:<n>`. */
const CACHE_LEASE_PREFIX = 'imc:';

/** The image-cache reconciler's port over the host's image store: a cache's images are leases, so GC keeps them. */
function cachePuller(store: ImageStore): CacheImagePuller {
  // The leases are the store's files, so a cache's pins are found again after an agent restart.
  const holders = (): string[] => store.leases().map(([holder]) => holder);
  const unpin = (cacheId: string) => {
    for (const h of holders()) if (h.startsWith(`${CACHE_LEASE_PREFIX}${cacheId}:`)) store.release(h);
  };
  return {
    async pull(image, opts) {
      const r = await store.pull(image, { credentials: opts.credentials, plainHttpRegistries: opts.plainHttpRegistries, insecureRegistries: opts.insecureRegistries });
      return { digest: r.image.digest, size: r.image.size };
    },
    pin(cacheId, digests) {
      unpin(cacheId);
      digests.forEach((d, i) => store.lease(d, `${CACHE_LEASE_PREFIX}${cacheId}:${i}`));
    },
    unpin,
    pinnedCaches() {
      const ids = new Set<string>();
      for (const h of holders()) if (h.startsWith(CACHE_LEASE_PREFIX)) ids.add(h.slice(CACHE_LEASE_PREFIX.length, h.lastIndexOf(':')));
      return [...ids];
    },
  };
}

export interface HostAgent {
  readonly hostId: string;
  readonly hostNetns: string | null;
  readonly apiEndpoint: string;
  readonly agent: RunningAgent;
  /** Ends the loops; containers keep running (a restarted agent adopts them). */
  stop(): Promise<void>;
  /** stop() plus: every container, mount, cgroup and namespace of this host removed (eci dev exit). */
  destroy(): Promise<void>;
}

const netnsPath = (name: string): string => `/var/run/netns/${name}`;

async function ensureNetns(name: string): Promise<boolean> {
  if ((await listNetns()).includes(name)) return false;
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', 'link', 'set', 'lo', 'up'], { netns: name });
  return true;
}

/** Deletes a namespace if it exists; answers whether it did. */
async function deleteNetns(name: string): Promise<boolean> {
  if (!(await listNetns()).includes(name)) return false;
  await run(['ip', 'netns', 'delete', name]);
  return true;
}

// ---------------------------------------------------------------------------------------------------
// The network side: the store rows the placed groups need → topology → observe → plan → apply.

/** A Tx that reads nothing (destroyAll: plan the host as if it held no group). */
const emptyTx = { list: async () => [] } as unknown as Tx;

async function syncHostNetwork(
  tx: Tx,
  hostId: string,
  hostNetns: string | null,
  groups: readonly Resource<ContainerGroupData>[],
  shaping: Shaper,
  observer: HostObserver,
  opts: { keepVpcs?: readonly string[]; full?: boolean } = {},
): Promise<void> {
  const keepVpcs = opts.keepVpcs ?? [];
  const vpcIds = new Set([...groups.map((g) => g.data.VpcId), ...keepVpcs]);
  const inVpc = <D extends { VpcId: string }>(rows: Resource<D>[]) => rows.filter((r) => vpcIds.has(r.data.VpcId));
  const [vpcs, vSwitches, sgs, eips, nats] = vpcIds.size
    ? await Promise.all([
        tx.list<VpcData>({ kind: KIND.vpc, ids: [...vpcIds] }),
        tx.list<VSwitchData>({ kind: KIND.vSwitch }).then(inVpc),
        tx.list<SecurityGroupData>({ kind: KIND.securityGroup }).then(inVpc),
        tx.list<EipData>({ kind: KIND.eip }),
        tx.list<NatGatewayData>({ kind: KIND.natGateway }).then(inVpc),
      ])
    : [[], [], [], [], []];
  const natIds = new Set(nats.map((n) => n.id));
  const [snats, dnats] = natIds.size
    ? await Promise.all([
        tx.list<SnatEntryData>({ kind: KIND.snatEntry }).then((r) => r.filter((e) => natIds.has(e.data.NatGatewayId))),
        tx.list<ForwardEntryData>({ kind: KIND.forwardEntry }).then((r) => r.filter((e) => natIds.has(e.data.NatGatewayId))),
      ])
    : [[], []];
  const desired = deriveHostNetwork({
    hostId,
    hostNetns,
    groups: groups.map((g) => g.data),
    vpcs: vpcs.map((r) => r.data),
    vSwitches: vSwitches.map((r) => r.data),
    eips: eips.filter((e) => vpcIds.has(e.data.VpcId) || e.data.InstanceType === 'Nat' || groups.some((g) => g.id === e.data.InstanceId)).map((e) => ({ status: e.status, data: e.data })),
    natGateways: nats.map((r) => r.data),
    snatEntries: snats.map((r) => r.data),
    forwardEntries: dnats.map((r) => r.data),
    keepVpcs,
  });
  const sgData = sgs.map((r) => r.data);
  const shapes = await planVpcShaping(tx, desired.vpcs, eips);
  await convergeNetwork(observer, desired, (v) => {
    const sg = securityGroupPolicy(v, sgData);
    const plan = shapes.get(v.vpcId);
    if (!plan) return sg;
    // Upload shaping: after the EIP SNAT the source is the EIP; its class on the router's uplink end.
    return { ...sg, postRules: renderPrioStatement('up', v.uplink.routerSide), maps: [{ name: UPLOAD_PRIO_MAP, type: 'ipv4_addr : classid', elements: plan.prio }] };
  }, { full: opts.full });
  await shaping.apply(hostNetns, desired.vpcs, shapes);
}

// ---------------------------------------------------------------------------------------------------
// Bandwidth (bandwidth.ts): per VPC uplink, every instance EIP gets an HTB class with a tbf leaf at its
// Bandwidth, in both directions: upload on the router's uplink end (classified by the router table's
// priority map, see above), download on the host's end (classified by a small `inet eci_bw` table in
// the host namespace). A common bandwidth package is the parent class of its EIPs.

async function planVpcShaping(tx: Tx, vpcs: readonly VpcNet[], eips: readonly Resource<EipData>[]): Promise<Map<string, ShapePlan>> {
  const byIp = new Map(eips.map((e) => [e.data.IpAddress, e.data]));
  const wanted = vpcs.map((v) => ({
    vpcId: v.vpcId,
    shapes: v.instances
      .filter((i) => i.eip)
      .map((i): EipShape => {
        const e = byIp.get(i.eip!);
        return { ip: i.eip!, mbit: e?.Bandwidth || DEFAULT_EIP_MBIT, packageId: e?.BandwidthPackageId || undefined };
      }),
  }));
  const pkgIds = [...new Set(wanted.flatMap((w) => w.shapes.map((x) => x.packageId ?? '')).filter(Boolean))];
  const packages = pkgIds.length
    ? (await tx.list<BandwidthPackageData>({ kind: KIND.bandwidthPackage, ids: pkgIds })).map((r): PackageShape => ({ id: r.id, mbit: r.data.Bandwidth }))
    : [];
  return new Map(wanted.map((w) => [w.vpcId, planShaping(w.shapes, packages)]));
}

type Shaper = ReturnType<typeof createShaper>;

/**
 * Applies tc classes as deltas from what this process last applied (everything once after a start), and
 * the host namespace's download classification as nft map element deltas. What the kernel holds is
 * checked again (the root qdiscs listed, the host table reloaded whole) at most every SHAPER_VERIFY_MS,
 * so drift (a deleted qdisc, a flushed table) is repaired within a resync without every pass paying two
 * `tc` spawns and a table reload (about 30 ms of each create).
 */
function createShaper(now: () => number = Date.now) {
  const applied = new Map<string, ShapePlan>();
  const verifiedAt = new Map<string, number>();
  let hostRules: string | undefined;
  let hostPrio = new Map<string, string>();
  let hostVerifiedAt = 0;

  const device = async (netns: string | null, dev: string, plan: ShapePlan) => {
    const key = `${netns}/${dev}`;
    const known = applied.get(key);
    if (known && now() - (verifiedAt.get(key) ?? 0) < SHAPER_VERIFY_MS) {
      const lines = renderShapingDelta(dev, known, plan);
      if (lines.length) await tcBatch(netns, lines);
      applied.set(key, plan);
      return;
    }
    if (!known) {
      // A device this process never shaped is most often a new VPC's uplink (on the create path): its
      // root is added with its classes in one batch. When a root is there already (an agent restart),
      // `qdisc add` fails before any class line ran, and the listing below decides.
      try {
        await tcBatch(netns, [...renderShapingRoot(dev, 'add'), ...renderShapingClasses(dev, plan)]);
        applied.set(key, plan);
        verifiedAt.set(key, now());
        return;
      } catch {
        // fall through
      }
    }
    // Listed: `qdisc replace` of an existing HTB root fails ("change operation not supported").
    const qdiscs = await json<{ kind: string; handle: string; root?: boolean }[]>(netns, ['tc', '-j', 'qdisc', 'show', 'dev', dev]);
    const rooted = qdiscs.some((q) => q.kind === 'htb' && q.handle === '1:' && q.root);
    const prev = rooted ? known : undefined;
    const lines = prev ? renderShapingDelta(dev, prev, plan) : [...(rooted ? [] : renderShapingRoot(dev)), ...renderShapingClasses(dev, plan)];
    if (lines.length) await tcBatch(netns, lines);
    applied.set(key, plan);
    verifiedAt.set(key, now());
  };

  return {
    async apply(hostNetns: string | null, vpcs: readonly VpcNet[], shapes: ReadonlyMap<string, ShapePlan>): Promise<void> {
      for (const v of vpcs) {
        const plan = shapes.get(v.vpcId);
        // A VPC's two uplink ends live in different namespaces: shaped side by side.
        if (plan) await Promise.all([device(v.netns, v.uplink.routerSide, plan), device(hostNetns, v.uplink.hostSide, plan)]);
      }
      const prio = new Map<string, string>();
      for (const p of shapes.values()) for (const [ip, id] of p.prio) prio.set(ip, id);
      const rules = vpcs.map((v) => `    ${renderPrioStatement('down', v.uplink.hostSide)}\n`).join('');
      if (rules === hostRules && now() - hostVerifiedAt < SHAPER_VERIFY_MS) {
        const delta = vpcs.length ? renderPrioDelta(DOWNLOAD_PRIO_MAP, { classes: [], prio: hostPrio }, { classes: [], prio }, `inet ${HOST_SHAPE_TABLE}`) : '';
        if (delta) await nftApply(hostNetns, delta);
      } else {
        const table = vpcs.length
          ? `table inet ${HOST_SHAPE_TABLE}\ndelete table inet ${HOST_SHAPE_TABLE}\ntable inet ${HOST_SHAPE_TABLE} {\n  ${renderPrioMap(DOWNLOAD_PRIO_MAP, { classes: [], prio })}  chain shape {\n    type filter hook postrouting priority 0; policy accept;\n${rules}  }\n}\n`
          : `table inet ${HOST_SHAPE_TABLE}\ndelete table inet ${HOST_SHAPE_TABLE}\n`;
        await nftApply(hostNetns, table);
        hostRules = rules;
        hostVerifiedAt = now();
      }
      hostPrio = prio;
      for (const key of [...applied.keys()])
        if (!vpcs.some((v) => key.endsWith(`/${v.uplink.routerSide}`) || key.endsWith(`/${v.uplink.hostSide}`))) {
          applied.delete(key);
          verifiedAt.delete(key);
        }
    },
  };
}

/**
 * How long a VPC's router stays on a host after its last instance there is gone. A delete followed by a
 * create in the same VPC (a replaced pod, a job run after job run) then reuses the router instead of
 * tearing it down and building it again (namespace, uplink, sysctls, nft table, qdiscs: 25–40 ms of the
 * create). Short, so a host holds no router for long that it does not need.
 */
const ROUTER_GRACE_MS = 2_000;

/** How long what the shaper applied is trusted before the kernel is checked again (the agent's resync period). */
const SHAPER_VERIFY_MS = 5_000;

const HOST_SHAPE_TABLE = 'eci_bw';

interface DriverDeps {
  readonly hostId: string;
  readonly runtime: RuncRuntime;
  readonly now: () => Date;
  /** The host's images, pulled into on the planner's demand. */
  readonly images: PullStore;
}

function toRuntimeState(s: ContainerRunStatus, now: number): RuntimeState {
  if (s.state === 'absent') return { state: 'absent' };
  const startedAt = s.startedAt ? Date.parse(s.startedAt) : now;
  if (s.state === 'running') return { state: 'running', run: s.run, startedAt };
  return {
    state: 'exited',
    run: s.run,
    startedAt,
    finishedAt: s.finishedAt ? Date.parse(s.finishedAt) : now,
    exitCode: s.exitCode ?? -1,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.message ? { message: s.message } : {}),
  };
}

/** What the lifecycle planner is asked for a group in `status` (restart and update carried out as restarts). */
function desiredFor(g: Resource<ContainerGroupData>, deleting: boolean): InstanceDesired {
  const d = g.data;
  if (deleting) return { spec: d, deleting: true, force: d.ForceDelete === true };
  if (g.status === 'Restarting') return { spec: d, restartToken: `restart:${d.StatusTime}`, restartStatus: 'Restarting' };
  if (g.status === 'Updating' && d.ObservedGeneration !== d.Generation) return { spec: d, restartToken: `generation:${d.Generation}`, restartStatus: 'Updating' };
  return { spec: d };
}

interface GroupRound {
  memory?: InstanceMemory;
  probeResults: ProbeResult[];
  hookResults: HookResult[];
  startErrors: StartError[];
  /** Kills, probes and hooks under way (keyed by what they are), so a round never repeats one. */
  inFlight: Set<string>;
  wakeTimer?: ReturnType<typeof setTimeout>;
}

function createDriver(d: DriverDeps, hostNetns: { name: string | null; own: boolean }, stateDir: string): GroupDriver {
  const { runtime, hostId } = d;
  const shaper = createShaper();
  const observer = new HostObserver();
  /** VPC → when an instance of it was last on this host (router grace, see ROUTER_GRACE_MS). */
  const vpcLastUsed = new Map<string, number>();
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const network = (tx: Tx, groups: readonly Resource<ContainerGroupData>[], full = true) => {
    const at = d.now().getTime();
    for (const g of groups) vpcLastUsed.set(g.data.VpcId, at);
    const keep: string[] = [];
    for (const [vpcId, t] of vpcLastUsed) {
      if (at - t >= ROUTER_GRACE_MS) vpcLastUsed.delete(vpcId);
      else if (t < at) keep.push(vpcId);
    }
    // A pass when the grace ends removes the router (the resync would, later).
    if (keep.length && !graceTimer) {
      graceTimer = setTimeout(() => {
        graceTimer = undefined;
        wake();
      }, ROUTER_GRACE_MS + 50);
      graceTimer.unref();
    }
    return syncHostNetwork(tx, hostId, hostNetns.name, groups, shaper, observer, { keepVpcs: keep, full });
  };
  /** Per group: the lifecycle planner's memory and the results of its asynchronous actions. */
  const rounds = new Map<string, GroupRound>();
  let wake: () => void = () => undefined;
  const pulls = new PullManager({ store: d.images, wake: () => wake(), now: () => d.now().getTime(), access: new ImageAccess(join(stateDir, 'image-access.json')) });

  const roundOf = (id: string): GroupRound => {
    let r = rounds.get(id);
    if (!r) rounds.set(id, (r = { probeResults: [], hookResults: [], startErrors: [], inFlight: new Set() }));
    return r;
  };
  const forget = (id: string) => {
    const r = rounds.get(id);
    if (r?.wakeTimer) clearTimeout(r.wakeTimer);
    rounds.delete(id);
  };
  /** Runs work in the background; a result makes the agent plan again at once. */
  const background = (r: GroupRound, key: string, work: () => Promise<void>) => {
    if (r.inFlight.has(key)) return;
    r.inFlight.add(key);
    void work()
      .catch(() => undefined)
      .finally(() => {
        r.inFlight.delete(key);
        wake();
      });
  };

  /** One lifecycle round: observe the runtime, plan, act; answers the plan. */
  const round = async (g: Resource<ContainerGroupData>, desired: InstanceDesired) => {
    const now = d.now().getTime();
    const r = roundOf(g.id);
    const netns = instanceNetnsName(hostId, g.id);
    const all = [
      ...g.data.InitContainers.map((c) => ({ role: 'init' as const, c })),
      ...g.data.Containers.map((c) => ({ role: 'app' as const, c })),
    ];
    const observedRuntime: Record<string, RuntimeState> = {};
    const imageIds = new Map<string, string>();
    for (const { role, c } of all) {
      const s = await runtime.state(g.id, c.Name);
      observedRuntime[containerKey(role, c.Name)] = toRuntimeState(s, now);
      if (s.imageId) imageIds.set(containerKey(role, c.Name), s.imageId);
    }
    r.memory ??= recoverMemory(desired, { ...g.data, status: g.status }, now);
    // A group that matched an image cache (CreateContainerGroup AutoMatchImageCache / ImageSnapshotId) has
    // its images from the cache, pinned on this host by the image-cache sync, without a registry round trip.
    const cacheId = g.data.ImageCacheId ?? '';
    const cachedImages = new Set(cacheId ? all.map((x) => x.c.Image) : []);
    const images = pulls.observe(g.data, g.account, all.map(({ role, c }) => ({ key: containerKey(role, c.Name), spec: c })), cachedImages);
    const plan = planInstance(
      desired,
      { memory: r.memory, runtime: observedRuntime, probeResults: r.probeResults.splice(0), hookResults: r.hookResults.splice(0), startErrors: r.startErrors.splice(0), images },
      now,
    );
    r.memory = plan.memory;

    const specOf = (key: string): ContainerSpec | undefined => all.find((x) => containerKey(x.role, x.c.Name) === key)?.c;
    const target = (name: string) => ({ netns, exec: (argv: readonly string[], timeoutMs: number) => runtime.exec(g.id, name, argv, timeoutMs) });
    let prepared = false;
    for (const a of plan.actions) {
      if (a.kind === 'pull') {
        pulls.request(g.data, g.account, a.key, a.image, a.run);
      } else if (a.kind === 'start') {
        const c = specOf(a.key);
        if (!c) continue;
        const held = observedRuntime[a.key];
        // A start of a run the runtime already holds is a no-op (an adopted container after an agent restart).
        if (held.state !== 'absent' && held.run === a.run) continue;
        try {
          if (!prepared) await runtime.prepareGroup(g.data);
          prepared = true;
          await runtime.start({ group: g.data, container: c, netnsPath: netnsPath(netns), run: a.run });
        } catch (e) {
          r.startErrors.push({ key: a.key, run: a.run, message: e instanceof Error ? e.message : String(e) });
          wake();
        }
      } else if (a.kind === 'kill') {
        background(r, `kill:${a.key}:${a.run}:${a.signal}`, async () => {
          await runtime.stop(g.id, a.container, a.signal === 'SIGKILL' ? 0 : Math.max(0, Math.ceil(a.graceMs / 1000)));
        });
      } else if (a.kind === 'probe') {
        background(r, `probe:${a.key}:${a.run}:${a.probe}`, async () => {
          const out = await runHandler(a.spec, target(a.container), a.timeoutMs).catch((e: unknown) => ({ ok: false, message: e instanceof Error ? e.message : String(e) }));
          r.probeResults.push({ key: a.key, run: a.run, probe: a.probe, ok: out.ok, message: out.message });
        });
      } else if (a.kind === 'hook') {
        background(r, `hook:${a.key}:${a.run}`, async () => {
          const out = await runHandler(a.handler, target(a.container), a.timeoutMs).catch((e: unknown) => ({ ok: false, message: e instanceof Error ? e.message : String(e) }));
          r.hookResults.push({ key: a.key, run: a.run, hook: a.hook, ok: out.ok, message: out.message });
        });
      }
    }
    if (r.wakeTimer) clearTimeout(r.wakeTimer);
    r.wakeTimer = undefined;
    if (plan.wakeAt !== undefined) r.wakeTimer = setTimeout(() => wake(), Math.max(0, plan.wakeAt - d.now().getTime()) + 5);
    return { plan, imageIds };
  };

  return {
    async start(w) {
      wake = w;
      ensureBusyboxImage(stateDir);
    },

    async syncNetwork(tx, groups, opts) {
      await network(tx, groups, opts?.full ?? true);
    },

    async syncGroup(g): Promise<GroupObservation> {
      try {
        // The network pass made the instance netns; an instance never runs without its own.
        if (!(await listNetns()).includes(instanceNetnsName(hostId, g.id)))
          return { status: 'Pending', data: {}, events: [{ type: 'Warning', reason: 'NetworkNotReady', message: `The network namespace of ${g.id} is not set up yet (see the agent's log); its containers wait for it.` }] };
        const { plan, imageIds } = await round(g, desiredFor(g, false));
        const st = plan.status;
        const withImage = (role: 'init' | 'app') => (c: ContainerStatusData): ContainerStatusData => {
          const id = imageIds.get(containerKey(role, c.Name));
          return id ? { ...c, ImageID: id } : c;
        };
        const status: GroupObservation['status'] = st.status === 'Terminating' ? 'Running' : st.status;
        const data: Partial<ContainerGroupData> = {
          ContainerStatuses: st.containers.map(withImage('app')),
          InitContainerStatuses: st.initContainers.map(withImage('init')),
          StartTime: st.startTime,
          StatusReason: st.reason,
          StatusMessage: st.message,
        };
        const events = [...pulls.takeEvents(g.id), ...plan.events];
        return { status, data, events: events.map((e) => ({ type: e.type, reason: e.reason, message: e.message })) };
      } catch (e) {
        if (e instanceof ImageNotFoundError) return { status: 'Pending', data: {}, events: [{ type: 'Warning', reason: 'Failed', message: e.message }] };
        throw e;
      }
    },

    async terminateGroup(g) {
      const { plan } = await round(g, desiredFor(g, true));
      return plan.status.settled;
    },

    async stopGroup(g) {
      for (const c of [...g.data.InitContainers, ...g.data.Containers]) {
        const s = await runtime.state(g.id, c.Name);
        if (s.state === 'running') await runtime.stop(g.id, c.Name, g.data.TerminationGracePeriodSeconds);
      }
    },

    async teardownGroup(groupId, graceSeconds) {
      const mine = (await runtime.list()).filter((c) => c.groupId === groupId);
      await Promise.all(mine.map((c) => runtime.stop(groupId, c.name, graceSeconds)));
      await runtime.removeGroup(groupId);
      // Normally the network pass removed the namespace already. When this does (an orphan), its veth
      // leaves the router too, behind the network observer's back: the next pass reads everything.
      if (await deleteNetns(instanceNetnsName(hostId, groupId))) observer.invalidate();
      forget(groupId);
      pulls.forget(groupId);
    },

    async localGroups() {
      return [...new Set((await runtime.list()).map((c) => c.groupId))];
    },

    async readLog(g, req) {
      const all = [...g.data.Containers, ...g.data.InitContainers];
      if (!all.some((c) => c.Name === req.ContainerName)) throw new AgentApiError(400, 'InvalidParameter', `The container group ${g.id} has no container "${req.ContainerName}".`);
      try {
        return await runtime.logs(g.id, req.ContainerName, {
          tail: req.Tail,
          sinceSeconds: req.SinceSeconds,
          startTime: req.StartTime,
          limitBytes: req.LimitBytes,
          timestamps: req.Timestamps,
          lastTime: req.LastTime,
        });
      } catch (e) {
        if (e instanceof LogNotFoundError) throw new AgentApiError(400, 'InvalidParameter', e.message);
        throw e;
      }
    },

    async exec(g, req, timeoutMs) {
      if (!g.data.Containers.some((c) => c.Name === req.ContainerName)) throw new AgentApiError(400, 'InvalidParameter', `The container group ${g.id} has no container "${req.ContainerName}".`);
      const s = await runtime.state(g.id, req.ContainerName);
      if (s.state !== 'running') throw new AgentApiError(400, 'IncorrectStatus', `The container ${req.ContainerName} of ${g.id} is not running.`);
      const out = await runtime.exec(g.id, req.ContainerName, req.Command, timeoutMs);
      if (out.exitCode === -1 && !out.stdout) throw new AgentApiError(400, 'InvalidParameter', `The command could not run: ${out.stderr.trim()}`);
      return { output: out.stdout + out.stderr, exitCode: out.exitCode };
    },

    async execStream(g, req) {
      if (!g.data.Containers.some((c) => c.Name === req.ContainerName)) throw new AgentApiError(400, 'InvalidParameter', `The container group ${g.id} has no container "${req.ContainerName}".`);
      const s = await runtime.state(g.id, req.ContainerName);
      if (s.state !== 'running') throw new AgentApiError(400, 'IncorrectStatus', `The container ${req.ContainerName} of ${g.id} is not running.`);
      return runtime.execStream(g.id, req.ContainerName, req.Command, req.TTY);
    },

    async destroyAll() {
      const groups = [...new Set((await runtime.list()).map((c) => c.groupId))];
      for (const id of groups) await this.teardownGroup(id, 0);
      // The network planner removes what no group needs any more (routers, uplinks, host routes).
      await network(emptyTx, []).catch(() => undefined);
      const prefix = `${shortId(hostId)}-`;
      for (const ns of await listNetns()) if (ns.startsWith(prefix)) await deleteNetns(ns);
      if (hostNetns.own) await destroySandboxHost(hostId);
      removeCgroupTree(hostCgroupPath(hostId));
    },
  };
}

/** Starts the agent with its registration, runtime and driver. Throws when the host netns cannot be made. */
export async function startHostAgent(o: HostAgentOptions): Promise<HostAgent> {
  const hostId = await ensureHostId(o.stateDir, (n) => randomBytes(n));
  // 'own' (eci dev, tests): the sandbox host netns named after the host id, which host.ts can attach
  // "Internet" clients to; any other name is used as given (created if missing, never removed).
  const own = o.hostNetns === 'own';
  const hostNetns = own ? await ensureSandboxHost(hostId) : o.hostNetns;
  if (hostNetns && !own) await ensureNetns(hostNetns);
  const imageStore = new ImageStore({ root: join(o.stateDir, 'image-store') });
  // GC keeps what containers lease and what is under a mounted overlay; beyond that, least recently used first.
  const budgetBytes = o.imageBudgetBytes ?? 20 * 2 ** 30;
  const gcTimer = setInterval(() => {
    imageStore.gc({ budgetBytes }).then(
      (r) => {
        if (r.removedImages.length) o.log?.(`image gc: removed ${r.removedImages.join(', ')} (${r.freedBytes} bytes)`);
      },
      (e: unknown) => o.log?.(`image gc failed: ${e instanceof Error ? e.message : String(e)}`),
    );
  }, IMAGE_GC_MS);
  gcTimer.unref();
  const cacheSync = createImageCacheSync({ store: o.store, hostId, regionId: o.regionId, zoneId: o.zoneId, puller: cachePuller(imageStore), log: o.log });
  const cacheTimer = setInterval(() => void cacheSync.sync(), IMAGE_CACHE_SYNC_MS);
  cacheTimer.unref();
  const runtime = new RuncRuntime({ stateDir: o.stateDir, hostId, nodeName: hostId, images: new HostImages(o.stateDir, imageStore) });
  const now = () => new Date();
  const driver = createDriver({ hostId, runtime, now, images: imageStore }, { name: hostNetns, own }, o.stateDir);
  const store = o.store;
  const agent = await startAgent({
    store,
    hostId,
    stateDir: o.stateDir,
    zoneId: o.zoneId,
    regionId: o.regionId,
    cpu: o.cpu,
    memory: o.memory,
    hostNetns,
    driver,
    metrics: startMetricsSampler({ hostId, log: o.log }),
    apiPort: o.apiPort,
    log: o.log,
    registrar: {
      async register(at, api) {
        await registerHost(store, { hostId, zoneId: o.zoneId, regionId: o.regionId, cpu: o.cpu, memory: o.memory, agentEndpoint: api.endpoint }, at);
        // The token sits beside the endpoint; registerHost keeps fields it does not know.
        for (let attempt = 0; ; attempt++) {
          try {
            await store.tx(async (tx) => {
              const host = await tx.get<HostData>(KIND.host, hostId);
              if (!host || host.data.AgentToken === api.token) return;
              host.data = { ...host.data, AgentToken: api.token };
              await tx.update(host);
            });
            return;
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 'OperationConflict') || attempt > 10) throw e;
          }
        }
      },
      heartbeat: (at) => heartbeat(store, hostId, at),
    },
  });
  return {
    hostId,
    hostNetns,
    apiEndpoint: agent.api.endpoint,
    agent,
    async stop() {
      clearInterval(gcTimer);
      clearInterval(cacheTimer);
      await agent.stop();
      imageStore.close();
    },
    async destroy() {
      clearInterval(gcTimer);
      clearInterval(cacheTimer);
      await agent.stop();
      await driver.destroyAll();
      imageStore.close();
    },
  };
}

