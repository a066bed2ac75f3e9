// The host agent: registers its host, then converges the groups placed on it to what the store says.
//
// Loop (level-based, STYLE.md 4): every pass re-reads the groups whose HostId is this host, hands the
// network the objects those groups need, asks the group driver to converge each group's containers,
// and writes back what it observed (status, container states, events) — one transaction per group,
// guarded by the row version it planned from, so a concurrent API change (Delete → Terminating,
// Restart → Restarting) is never overwritten: the pass drops its write and the next pass sees the change.
//
// Passes run on a cheap change check (the versions of the groups and their network objects), made as
// soon as the store reports a commit (Store.watch) and every POLL_MS anyway, and a full resync every
// RESYNC_MS even when nothing changed, so drift in the kernel is repaired within one resync.
//
// Contracts:
// - The agent keeps no state of its own except its host id (kept in the state dir by the caller, stable
//   across restarts). Everything else is re-derived from the store, the kernel and runc, so a kill -9 and a
//   restart adopt what runs.
// - stop() ends the loops and the local API but leaves containers running (an agent upgrade or crash
//   must not restart instances). `eci dev` additionally calls the driver's destroyAll on exit.

import { KIND, type ContainerGroupData } from '../core/model.ts';
import { rfc3339 } from '../core/time.ts';
import { removeContainerGroup } from '../api/resources/container-group.ts';
import type { Resource, Store, Tx } from '../store/store.ts';
import { AgentApiError, startAgentApi, type AgentApi, type ExecOutput, type ExecRequest, type ExecStream, type LogRequest } from './api.ts';
import type { MetricsSampler } from './metrics.ts';
import { closeSessions } from './net/exec.ts';

export const HEARTBEAT_MS = 2000;
export const RESYNC_MS = 5000;
// The change poll is a few indexed reads. The store's commit reports (Store.watch) start it at once;
// the timer is the fallback for a store that cannot report (or a report that was missed).
const POLL_MS = 100;
/** At most one store-triggered change check per this many ms (see onStoreChange). */
const WATCH_MIN_MS = 20;

/** Statuses in which the group's containers should exist on this host. */
const ACTIVE: ReadonlySet<string> = new Set(['Pending', 'Running', 'Restarting', 'Updating']);
/** Statuses after which nothing runs any more; the group's row stays until deleted. */
const FINAL: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Expired', 'ScheduleFailed']);

export interface AgentEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** What the driver observed of one group after converging it. */
export interface GroupObservation {
  /** The group status to report. */
  status: 'Pending' | 'Running' | 'Restarting' | 'Updating' | 'Succeeded' | 'Failed';
  /** Fields merged into the group's data (container states, IntranetIp confirmation…). */
  data: Partial<ContainerGroupData> & Record<string, unknown>;
  events: AgentEvent[];
}

/**
 * Everything the agent does to the kernel and runc, behind one port so that the loop stays testable and
 * compiles while the network and runtime modules evolve. Every method is idempotent and may be called
 * again after a failure or an agent restart.
 */
export interface GroupDriver {
  /**
   * Host-level preparation (host netns, image store). Called once at start, before any pass. `wake`
   * asks the agent for a pass soon (a probe result arrived, a back-off or grace period ran out).
   */
  start(wake: () => void): Promise<void>;
  /**
   * Converges the host network to serve exactly `groups` (their VPCs, instance netns, SGs, EIPs, NAT).
   * `full` (the periodic resync; the default) re-reads all of the host's network state first; without
   * it the driver may plan from what it read after its own last changes (drift is then repaired by the
   * next full pass).
   */
  syncNetwork(tx: Tx, groups: readonly Resource<ContainerGroupData>[], opts?: { full?: boolean }): Promise<void>;
  /**
   * Converges a group's containers to its spec and status: Restarting (RestartContainerGroup) and
   * Updating with a Generation not yet observed restart every container. Group-level failures are
   * reported in the observation, never thrown.
   */
  syncGroup(group: Resource<ContainerGroupData>): Promise<GroupObservation>;
  /**
   * Stops a Terminating group's containers gracefully (preStop, SIGTERM, grace, SIGKILL; at once with
   * ForceDelete) without waiting; true once nothing runs any more.
   */
  terminateGroup(group: Resource<ContainerGroupData>): Promise<boolean>;
  /** Stops a finished group's remaining containers (RestartPolicy reached its end); keeps its logs. */
  stopGroup(group: Resource<ContainerGroupData>): Promise<void>;
  /**
   * Removes everything the group has on this host: SIGTERM, `graceSeconds`, SIGKILL, then runc state,
   * mounts, cgroups, logs, netns and veth. Deleting what is already gone succeeds.
   */
  teardownGroup(groupId: string, graceSeconds: number): Promise<void>;
  /** The ids of the groups this host has any state for (for orphan collection). */
  localGroups(): Promise<string[]>;
  readLog(group: Resource<ContainerGroupData>, req: LogRequest): Promise<string>;
  exec(group: Resource<ContainerGroupData>, req: ExecRequest, timeoutMs: number): Promise<ExecOutput>;
  /** An interactive exec in a running container (checks as exec does). */
  execStream(group: Resource<ContainerGroupData>, req: ExecRequest): Promise<ExecStream>;
  /** Removes every container, namespace and mount the driver ever made on this host (eci dev exit). */
  destroyAll(): Promise<void>;
}

/** How the agent makes its host known (src/agent/registration.ts, adapted by the caller). */
export interface Registrar {
  /** Upserts the host row (zone, capacity, AgentEndpoint) and stores the API token beside it. */
  register(now: Date, api: { endpoint: string; token: string }): Promise<void>;
  /** False when the host row is gone (the agent then registers again). */
  heartbeat(now: Date): Promise<boolean>;
}

export interface AgentOptions {
  readonly store: Store;
  /** The host's id, stable across restarts (registration.ts ensureHostId keeps it in the state dir). */
  readonly hostId: string;
  readonly stateDir: string;
  readonly zoneId: string;
  readonly regionId: string;
  readonly cpu: number;
  /** GiB. */
  readonly memory: number;
  /** The namespace the agent's kernel objects live in; null = the agent's own (production). */
  readonly hostNetns: string | null;
  readonly clock?: () => Date;
  readonly driver: GroupDriver;
  readonly registrar?: Registrar;
  /** Port of the local API (0 = any free port). */
  readonly apiPort?: number;
  readonly log?: (line: string) => void;
  /** Serves /v1/metrics (src/agent/metrics.ts); stopped with the agent. Absent: no metrics endpoint. */
  readonly metrics?: MetricsSampler;
}

export interface RunningAgent {
  readonly hostId: string;
  readonly api: AgentApi;
  /** Runs one full pass now and waits for it (tests). */
  resync(): Promise<void>;
  /** Ends the loops and the API; containers keep running. */
  stop(): Promise<void>;
}

const hostIdOf = (g: Resource<ContainerGroupData>): string => (g.data as { HostId?: string }).HostId ?? '';

/** The groups placed on this host, including finished and terminating ones. */
async function groupsOnHost(tx: Tx, hostId: string): Promise<Resource<ContainerGroupData>[]> {
  return (await tx.list<ContainerGroupData>({ kind: KIND.containerGroup })).filter((g) => hostIdOf(g) === hostId);
}

/**
 * The versions of everything the host's network is derived from: its groups, and the security
 * groups, EIPs, NAT gateways and SNAT/DNAT entries of their VPCs and accounts. The cheap poll compares
 * it, so an API change to any of them (a rule authorised, a bandwidth modified, an entry added) starts a
 * pass within one poll interval instead of waiting for the full resync. Indexed reads only.
 */
async function hostFingerprint(tx: Tx, groups: readonly Resource<ContainerGroupData>[]): Promise<string> {
  const parts = groups.map((g) => `${g.id}:${g.version}`);
  const vpcs = [...new Set(groups.map((g) => g.data.VpcId).filter(Boolean))].sort();
  const accounts = [...new Set(groups.map((g) => g.account))].sort();
  const add = (rows: readonly Resource<unknown>[]) => {
    for (const r of rows) parts.push(`${r.id}:${r.version}`);
  };
  for (const vpc of vpcs) {
    add(await tx.list({ kind: KIND.securityGroup, parent: vpc }));
    const gateways = await tx.list({ kind: KIND.natGateway, parent: vpc });
    add(gateways);
    for (const ngw of gateways) {
      add(await tx.list({ kind: KIND.snatEntry, parent: ngw.id }));
      add(await tx.list({ kind: KIND.forwardEntry, parent: ngw.id }));
    }
  }
  for (const account of accounts) add(await tx.list({ kind: KIND.eip, account }));
  return parts.join(',');
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const clock = opts.clock ?? (() => new Date());
  const log = opts.log ?? ((l: string) => console.error(l));
  const hostId = opts.hostId;
  const { store, driver } = opts;

  let wakeUp: () => void = () => undefined;
  await driver.start(() => wakeUp());

  const findGroup = async (id: string): Promise<Resource<ContainerGroupData>> => {
    const g = await store.get<ContainerGroupData>(KIND.containerGroup, id);
    if (!g || hostIdOf(g) !== hostId) throw new AgentApiError(404, 'InvalidContainerGroupId.NotFound', `The container group ${id} does not run on host ${hostId}.`);
    return g;
  };
  const api = await startAgentApi({
    port: opts.apiPort ?? 0,
    handlers: {
      async readLog(req) {
        const g = await findGroup(req.ContainerGroupId);
        return { ContainerName: req.ContainerName, Content: await driver.readLog(g, req) };
      },
      async exec(req, timeoutMs) {
        const g = await findGroup(req.ContainerGroupId);
        if (g.status !== 'Running' && g.status !== 'Updating')
          throw new AgentApiError(400, 'IncorrectStatus', `The container group ${g.id} is ${g.status}; a command runs only in a Running container group.`);
        return driver.exec(g, req, timeoutMs);
      },
      async execStream(req) {
        const g = await findGroup(req.ContainerGroupId);
        if (g.status !== 'Running' && g.status !== 'Updating')
          throw new AgentApiError(400, 'IncorrectStatus', `The container group ${g.id} is ${g.status}; a command runs only in a Running container group.`);
        return driver.execStream(g, req);
      },
      ...(opts.metrics
        ? {
            metrics: async (req: { ContainerGroupId: string }) => {
              const g = await findGroup(req.ContainerGroupId);
              if (g.status !== 'Running' && g.status !== 'Updating' && g.status !== 'Restarting')
                throw new AgentApiError(400, 'IncorrectStatus', `The container group ${g.id} is ${g.status}; metrics exist only while it runs.`);
              return { ContainerGroupId: g.id, Records: await opts.metrics!.records(g.id) };
            },
          }
        : {}),
    },
  });

  const apiInfo = { endpoint: api.endpoint, token: api.token };
  if (opts.registrar) await opts.registrar.register(clock(), apiInfo);
  log(`eci agent: host ${hostId} (zone ${opts.zoneId}, ${opts.cpu} vCPU, ${opts.memory} GiB${opts.hostNetns ? `, host netns ${opts.hostNetns}` : ''}), local API on ${api.endpoint}`);

  /**
   * Writes the observation onto the current row. Events are facts and are always recorded; the status
   * and observed fields are written only while the row's status and spec generation are still those
   * the pass planned from (a Delete, Restart or Update meanwhile wins; the next pass sees it). Other
   * writers' fields (HostStatus…) are kept: the observation is merged onto the row as it is now.
   */
  const writeBack = async (seen: Resource<ContainerGroupData>, status: string, data: Record<string, unknown>, events: AgentEvent[]): Promise<void> => {
    const nowText = rfc3339(clock());
    await store.tx(async (tx) => {
      const row = await tx.get<ContainerGroupData>(KIND.containerGroup, seen.id);
      if (!row) return;
      for (const e of events) await tx.addEvent(row.account, { resourceId: row.id, type: e.type, reason: e.reason, message: e.message }, nowText);
      if (row.status !== seen.status || row.data.Generation !== seen.data.Generation) return;
      const merged = { ...row.data, ...data } as ContainerGroupData;
      const statusChanged = row.status !== status;
      if (!statusChanged && JSON.stringify(merged) === JSON.stringify(row.data)) return;
      if (statusChanged) {
        merged.StatusTime = nowText;
        if (status === 'Succeeded') merged.SucceededTime = nowText;
        if (status === 'Failed') merged.FailedTime = nowText;
      }
      row.status = status;
      row.data = merged;
      await tx.update(row);
    });
  };

  const terminate = async (g: Resource<ContainerGroupData>): Promise<void> => {
    if (!(await driver.terminateGroup(g))) return;
    await driver.teardownGroup(g.id, 0);
    await store.tx(async (tx) => {
      const row = await tx.get<ContainerGroupData>(KIND.containerGroup, g.id);
      if (row && row.status === 'Terminating') await removeContainerGroup(tx, row);
    });
  };

  const reconcileGroup = async (g: Resource<ContainerGroupData>): Promise<void> => {
    if (g.status === 'Terminating') return terminate(g);
    if (FINAL.has(g.status)) return driver.stopGroup(g);
    if (!ACTIVE.has(g.status)) return;
    const obs = await driver.syncGroup(g);
    // The spec generation counts as converged once the group left Updating.
    const data: Record<string, unknown> = obs.status === 'Updating' ? obs.data : { ...obs.data, ObservedGeneration: g.data.Generation };
    await writeBack(g, obs.status, data, obs.events);
  };

  let busy: Promise<void> | undefined;
  let again = false;
  /** A store commit was reported during a pass: check the fingerprint right after it. */
  let dirty = false;
  let fingerprint = '';
  let stopped = false;
  /** The next pass is a full resync (the first one, the RESYNC_MS timer's, `resync()`). */
  let resyncDue = true;

  const pass = async (): Promise<void> => {
    const full = resyncDue;
    resyncDue = false;
    const groups = await groupsOnHost(store, hostId);
    fingerprint = await hostFingerprint(store, groups);
    try {
      // Reads outside a transaction: applying kernel steps must never hold the store's write lock.
      // Terminating groups keep their network until their containers are stopped.
      await driver.syncNetwork(store, groups.filter((g) => ACTIVE.has(g.status) || g.status === 'Terminating'), { full });
    } catch (e) {
      log(`eci agent: network sync failed: ${errorText(e)}`);
    }
    await Promise.all(
      groups.map((g) =>
        reconcileGroup(g).catch(async (e: unknown) => {
          log(`eci agent: group ${g.id}: ${errorText(e)}`);
          if (ACTIVE.has(g.status))
            await writeBack(g, g.status, {}, [{ type: 'Warning', reason: 'ProviderFailed', message: errorText(e).slice(0, 1000) }]).catch(() => undefined);
        }),
      ),
    );
    // Orphans: kernel state of groups the store no longer places here (deleted while the agent was down).
    const known = new Set(groups.map((g) => g.id));
    for (const id of await driver.localGroups().catch(() => [] as string[]))
      if (!known.has(id)) await driver.teardownGroup(id, 0).catch((e: unknown) => log(`eci agent: orphan ${id}: ${errorText(e)}`));
  };

  /** Runs a pass, or schedules one right after the running pass (passes never overlap). */
  const kick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (busy) {
      again = true;
      return busy;
    }
    busy = pass()
      .catch((e: unknown) => log(`eci agent: pass failed: ${errorText(e)}`))
      .finally(() => {
        busy = undefined;
        if (again && !stopped) {
          again = false;
          dirty = false;
          void kick();
        } else if (dirty && !stopped) {
          dirty = false;
          void poll().catch(() => undefined);
        }
      });
    return busy;
  };

  let polling = false;
  const poll = async (): Promise<void> => {
    if (stopped) return;
    if (busy || polling) {
      dirty = true;
      return;
    }
    polling = true;
    try {
      const groups = await groupsOnHost(store, hostId);
      if ((await hostFingerprint(store, groups)) !== fingerprint) void kick();
    } finally {
      polling = false;
    }
    if (dirty && !busy) {
      dirty = false;
      await poll();
    }
  };

  wakeUp = () => void kick();
  // A commit to the store (the server placed a group, an API call changed a rule) starts the cheap
  // check at once instead of at the next POLL_MS tick (bench/agent.ts: ~50 ms of create → reachable).
  // Pokes can be many (on a shared SQLite file every API call writes its nonce): one check per
  // WATCH_MIN_MS at most, the first at once.
  let lastWatchPoll = 0;
  let watchTimer: ReturnType<typeof setTimeout> | undefined;
  const onStoreChange = () => {
    if (watchTimer || stopped) return;
    const wait = lastWatchPoll + WATCH_MIN_MS - Date.now();
    watchTimer = setTimeout(
      () => {
        watchTimer = undefined;
        lastWatchPoll = Date.now();
        void poll().catch(() => undefined);
      },
      Math.max(0, wait),
    );
  };
  const unwatch = store.watch?.(onStoreChange);
  await kick();
  const timers = [
    setInterval(() => {
      resyncDue = true;
      void kick();
    }, RESYNC_MS),
    setInterval(() => void poll().catch(() => undefined), POLL_MS),
    setInterval(() => {
      const r = opts.registrar;
      if (r && !stopped)
        void r
          .heartbeat(clock())
          .then((alive) => (alive ? undefined : r.register(clock(), apiInfo)))
          .catch((e: unknown) => log(`eci agent: heartbeat failed: ${errorText(e)}`));
    }, HEARTBEAT_MS),
  ];

  return {
    hostId,
    api,
    async resync() {
      await busy;
      resyncDue = true;
      await kick();
    },
    async stop() {
      stopped = true;
      unwatch?.();
      if (watchTimer) clearTimeout(watchTimer);
      for (const t of timers) clearInterval(t);
      opts.metrics?.stop();
      await busy;
      await api.close();
      // The long-lived ip / nft processes of the network layer (exec.ts) end with the loops.
      await closeSessions();
    },
  };
}
