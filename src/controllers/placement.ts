// The placement controller: puts each Scheduling container group on a Ready host of one of its
// vSwitches' zones (src/core/placement.ts decides; this file reads and writes the store).
//
// Contracts:
// - One transaction per group, under the group's account lock (the lock every API write of that
//   account takes), which re-reads the group, the hosts and their load. A group is placed at most
//   once: a second server's transaction for the same group waits for the lock and then finds it no
//   longer Scheduling.
// - No host is overcommitted, even by several servers placing groups of different accounts at once:
//   the transaction bumps the chosen host row's version (an optimistic update of the row as read
//   before the load was summed). A transaction that read the host before another placement on it
//   committed fails with OperationConflict and is retried with fresh reads.
// - Lock order inside the transaction: account (tx lock) → the new vSwitch's IPAM scope (allocateIp)
//   → host row → group row → EIP row; the host controller takes host row → group rows, heartbeats
//   only the host row, so no cycle exists.
// - A region where no host has ever registered keeps its groups Scheduling (a fresh install without
//   agents must not fail everything) until their MaxPendingMinute has passed since creation; with
//   hosts present, a group nothing fits fails at once (ScheduleFailed and a Warning event naming why).

import { randomBytes } from 'node:crypto';
import { formatIp, parseCidr, parseIp, vSwitchUsableRange } from '../core/cidr.ts';
import { ApiError } from '../core/errors.ts';
import type { RandomBytes } from '../core/ids.ts';
import { KIND, type ContainerGroupData, type EipData, type HostData, type VSwitchData } from '../core/model.ts';
import { hostUsage, planPlacement, vSwitchOrder, type PlacementChoice } from '../core/placement.ts';
import { rfc3339 } from '../core/time.ts';
import type { Resource, Store, Tx } from '../store/store.ts';
import type { Controller, ControllerDeps } from './index.ts';

export type PlacementOutcome =
  | { readonly type: 'placed'; readonly hostId: string; readonly vSwitchId: string; readonly ip: string }
  | { readonly type: 'failed'; readonly reason: string }
  /** No host in the region yet: the group stays Scheduling. */
  | { readonly type: 'waiting' }
  /** The group is gone, already placed, or no longer Scheduling. */
  | { readonly type: 'skipped' };

/** Places one group now, in one transaction. Throws OperationConflict when a row raced (retry). */
export async function placeGroup(store: Store, groupId: string, account: string, now: Date, random: RandomBytes): Promise<PlacementOutcome> {
  return store.tx(async (tx) => {
    const g = await tx.get<ContainerGroupData>(KIND.containerGroup, groupId);
    if (!g || g.status !== 'Scheduling' || g.data.HostId) return { type: 'skipped' };
    const hosts = await tx.list<HostData>({ kind: KIND.host, region: g.region });
    const order = vSwitchOrder(g.data.VSwitchIds, g.data.VSwitchId, g.data.ScheduleStrategy, random);
    const vSwitches = new Map(
      (await tx.list<VSwitchData>({ kind: KIND.vSwitch, ids: order })).filter((v) => v.account === g.account).map((v) => [v.id, v]),
    );
    const usage = hosts.length ? hostUsage(await loads(tx, g.region)) : new Map();
    const plan = planPlacement(
      {
        cpu: g.data.Cpu,
        memory: g.data.Memory,
        vSwitches: order.filter((id) => vSwitches.has(id)).map((id) => ({ id, zoneId: vSwitches.get(id)!.data.ZoneId })),
        createdMs: Date.parse(g.data.CreationTime || g.createdAt),
        maxPendingMinute: g.data.MaxPendingMinute || 240,
      },
      hosts.map((h) => ({ id: h.id, zoneId: h.data.ZoneId, status: h.status, cpu: h.data.Cpu, memory: h.data.Memory })),
      usage,
      now.getTime(),
    );
    if (plan.type === 'wait') return { type: 'waiting' };
    if (plan.type === 'fail') return fail(tx, g, plan.reason, now);

    const unfit = [...plan.unfit];
    for (const choice of plan.choices) {
      const ip = await addressIn(tx, g, vSwitches.get(choice.vSwitchId)!);
      if (ip === undefined) {
        unfit.push(`vSwitch ${choice.vSwitchId} has no free private IP address`);
        continue;
      }
      await commitPlacement(tx, g, hosts.find((h) => h.id === choice.hostId)!, choice, ip, now);
      return { type: 'placed', hostId: choice.hostId, vSwitchId: choice.vSwitchId, ip };
    }
    return fail(tx, g, unfit.join('; '), now);
  }, `account:${account}`);
}

/** Every group of the region as capacity accounting sees it (final ones are skipped by hostUsage). */
async function loads(tx: Tx, region: string) {
  return (await tx.list<ContainerGroupData>({ kind: KIND.containerGroup, region })).map((r) => ({
    status: r.status,
    hostId: r.data.HostId ?? '',
    cpu: r.data.Cpu,
    memory: r.data.Memory,
  }));
}

/**
 * The group's private address in `vSwitch`: the one it has when that is its vSwitch already, else a
 * new one allocated there (undefined when the vSwitch is full). The old address is released by
 * commitPlacement, in the same transaction, so a failed attempt leaves it untouched.
 */
async function addressIn(tx: Tx, g: Resource<ContainerGroupData>, vSwitch: Resource<VSwitchData>): Promise<string | undefined> {
  if (vSwitch.id === g.data.VSwitchId && g.data.IntranetIp) return g.data.IntranetIp;
  const ip = await tx.allocateIp(vSwitch.id, [vSwitchUsableRange(parseCidr(vSwitch.data.CidrBlock)!)], g.id);
  return ip === undefined ? undefined : formatIp(ip);
}

async function commitPlacement(
  tx: Tx,
  g: Resource<ContainerGroupData>,
  host: Resource<HostData>,
  choice: PlacementChoice,
  ip: string,
  now: Date,
): Promise<void> {
  const nowText = rfc3339(now);
  // The overcommit guard: fails if another placement (or a heartbeat) wrote the host since we read it.
  await tx.update(host);

  const { VSwitchId: oldVSwitchId, IntranetIp: oldIp } = g.data;
  const moved = choice.vSwitchId !== oldVSwitchId;
  if (moved && oldIp) {
    const n = parseIp(oldIp);
    if (n !== undefined && (await tx.ipOwner(oldVSwitchId, n)) === g.id) await tx.releaseIp(oldVSwitchId, n);
  }
  g.status = 'Pending';
  g.parent = choice.vSwitchId;
  g.data = {
    ...g.data,
    HostId: host.id,
    HostStatus: 'Ready',
    VSwitchId: choice.vSwitchId,
    ZoneId: choice.zoneId,
    IntranetIp: ip,
    StatusTime: nowText,
  };
  await tx.update(g);

  if (moved && g.data.EipAllocationId) {
    // The EIP being bound carries the private address it maps to.
    const eip = await tx.get<EipData>(KIND.eip, g.data.EipAllocationId);
    if (eip && eip.data.InstanceId === g.id && eip.data.PrivateIpAddress !== ip) {
      eip.data = { ...eip.data, PrivateIpAddress: ip };
      await tx.update(eip);
    }
  }

  const event = (reason: string, message: string) => tx.addEvent(g.account, { resourceId: g.id, type: 'Normal', reason, message }, nowText);
  if (moved)
    await event(
      'SuccessfulAssignIp',
      `Assigned private IP ${ip} in vSwitch ${choice.vSwitchId} (${choice.zoneId}), where a host had room; ${oldIp || 'no address'} in vSwitch ${oldVSwitchId} was released.`,
    );
  await event('Scheduled', `Successfully assigned ${g.id} to ${host.id}`);
}

async function fail(tx: Tx, g: Resource<ContainerGroupData>, reason: string, now: Date): Promise<PlacementOutcome> {
  const nowText = rfc3339(now);
  g.status = 'ScheduleFailed';
  g.data = { ...g.data, StatusTime: nowText, FailedTime: nowText };
  await tx.update(g);
  await tx.addEvent(g.account, { resourceId: g.id, type: 'Warning', reason: 'ScheduleFailed', message: `The container group could not be placed: ${reason}.` }, nowText);
  return { type: 'failed', reason };
}

export interface PlacementControllerOptions {
  readonly intervalMs?: number;
  /** Shuffles the fallback vSwitches of VSwitchRandom groups; tests inject a fixed source. */
  readonly random?: RandomBytes;
  /** Attempts per group and pass when rows race (then the next pass tries again). */
  readonly attempts?: number;
  /**
   * Groups placed at once within a pass (default 1). Each is its own transaction, so on PostgreSQL
   * groups of different accounts then race for the same hosts, which the host-row guard settles;
   * on SQLite transactions are serial anyway.
   */
  readonly concurrency?: number;
}

/** How often a pass re-reads every Scheduling group while no host is registered anywhere. */
const FULL_SCAN_MS = 30_000;

interface Waiting {
  readonly id: string;
  readonly account: string;
  readonly region: string;
  /** When MaxPendingMinute has passed since creation (ms). */
  readonly deadline: number;
}

export function placementController(deps: ControllerDeps, opts: PlacementControllerOptions = {}): Controller {
  // Every pass is one indexed read of the Scheduling groups; 100 ms keeps placement a small part of
  // create → reachable (bench/agent.ts measures it).
  const intervalMs = opts.intervalMs ?? 100;
  const random = opts.random ?? randomBytes;
  const attempts = opts.attempts ?? 5;
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  // While no host is registered anywhere (a fresh install, or thousands of groups queued before the
  // first agent) only MaxPendingMinute deadlines can change anything. Then a pass reads only the
  // Scheduling groups inserted since the last pass (seq order, the (kind, status, seq) index) and
  // remembers their deadlines; every FULL_SCAN_MS (and whenever a host exists) it re-reads them all,
  // which also catches a group that went back to Scheduling. A remembered group that has left
  // Scheduling meanwhile costs one transaction that skips it.
  const known = new Map<string, Waiting>();
  // No later than the earliest deadline in `known` (entries that left keep it early, never late): while
  // no host exists a pass before it has nothing to do, and skips the walk over every waiting group.
  let earliestDeadline = Infinity;
  let lastSeq = 0;
  let lastFullScan = -Infinity;
  const waitingOf = (g: Resource<ContainerGroupData>): Waiting => ({
    id: g.id,
    account: g.account,
    region: g.region,
    deadline: Date.parse(g.data.CreationTime || g.createdAt) + (g.data.MaxPendingMinute || 240) * 60_000,
  });
  const scan = async (afterSeq: number) => {
    const rows = await deps.store.list<ContainerGroupData>({ kind: KIND.containerGroup, status: 'Scheduling', afterSeq });
    if (afterSeq === 0) {
      known.clear();
      earliestDeadline = Infinity;
    }
    for (const g of rows) {
      if (g.seq > lastSeq) lastSeq = g.seq;
      if (g.data.HostId) continue;
      const w = waitingOf(g);
      known.set(g.id, w);
      if (w.deadline < earliestDeadline) earliestDeadline = w.deadline;
    }
  };
  return {
    name: 'placement',
    intervalMs,
    // A create is placed at once instead of up to intervalMs later (bench/agent.ts: ~50 ms of
    // create → reachable on average).
    wakeOnChange: true,
    async reconcile(now: Date): Promise<void> {
      const regionsWithHosts = new Set((await deps.store.list<HostData>({ kind: KIND.host })).map((h) => h.region));
      if (regionsWithHosts.size > 0 || now.getTime() - lastFullScan >= FULL_SCAN_MS) {
        await scan(0);
        lastFullScan = now.getTime();
      } else await scan(lastSeq);
      if (!known.size) return;
      // Without hosts only the MaxPendingMinute deadline can change anything: no transaction before it.
      if (regionsWithHosts.size === 0 && now.getTime() < earliestDeadline) return;
      const todo = [...known.values()].filter((g) => regionsWithHosts.has(g.region) || now.getTime() >= g.deadline);
      const place = async (g: Waiting) => {
        for (let attempt = 1; attempt <= attempts; attempt++) {
          try {
            const outcome = await placeGroup(deps.store, g.id, g.account, now, random);
            if (outcome.type !== 'waiting') known.delete(g.id);
            return;
          } catch (e) {
            if (e instanceof ApiError && e.code === 'OperationConflict') continue;
            console.error(`controller placement: ${g.id}:`, e);
            return;
          }
        }
      };
      // Oldest first; with concurrency > 1, each worker takes the next oldest.
      let next = 0;
      const worker = async () => {
        while (next < todo.length) await place(todo[next++]);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
      earliestDeadline = Infinity;
      for (const g of known.values()) if (g.deadline < earliestDeadline) earliestDeadline = g.deadline;
    },
  };
}
