// Placement and host health, the pure part: which host and vSwitch a Scheduling container group goes
// to, and whether a host is Ready. No I/O and no clock: the controllers (src/controllers/placement.ts,
// src/controllers/hosts.ts) read the store, call these, and write the outcome in one transaction.
// Table-tested in test/core/placement.test.ts.

import type { RandomBytes } from './ids.ts';
import type { HostStatus } from './model.ts';

/** Statuses whose group holds nothing on its host any more: its CPU and memory are free again. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Expired', 'ScheduleFailed']);

export const isFinalStatus = (status: string): boolean => FINAL_STATUSES.has(status);

/** Silence after which a host is Unhealthy; the agent heartbeats every 2 s, so this is ~7 missed beats. */
export const DEFAULT_UNHEALTHY_AFTER_MS = 15_000;

/** Float sums of fractional vCPU/GiB (0.25 + 0.5 …) must not make an exact fit look one ulp too big. */
const EPSILON = 1e-9;

// ---------------------------------------------------------------------------------------------------
// Host health.

/** The status a host should have at `nowMs`: Ready while its last heartbeat is younger than the limit. */
export function hostStatusAt(lastHeartbeat: string, nowMs: number, unhealthyAfterMs = DEFAULT_UNHEALTHY_AFTER_MS): HostStatus {
  const beat = Date.parse(lastHeartbeat);
  if (Number.isNaN(beat)) return 'Unhealthy';
  return nowMs - beat < unhealthyAfterMs ? 'Ready' : 'Unhealthy';
}

// ---------------------------------------------------------------------------------------------------
// Placement.

export interface HostView {
  readonly id: string;
  readonly zoneId: string;
  readonly status: string;
  /** Capacity: vCPU and GiB. */
  readonly cpu: number;
  readonly memory: number;
}

/** A group as capacity accounting sees it. */
export interface GroupLoad {
  readonly status: string;
  readonly hostId: string;
  readonly cpu: number;
  readonly memory: number;
}

export interface Usage {
  cpu: number;
  memory: number;
}

/** CPU and memory taken per host: the requests of every non-final group placed on it. */
export function hostUsage(groups: Iterable<GroupLoad>): Map<string, Usage> {
  const out = new Map<string, Usage>();
  for (const g of groups) {
    if (!g.hostId || isFinalStatus(g.status)) continue;
    const u = out.get(g.hostId) ?? { cpu: 0, memory: 0 };
    u.cpu += g.cpu;
    u.memory += g.memory;
    out.set(g.hostId, u);
  }
  return out;
}

/**
 * The order in which a group's vSwitches are tried. VSwitchOrdered: as the request named them.
 * VSwitchRandom: creation already drew a random vSwitch and took the private IP there (`current`), so
 * that one comes first and the others follow in a fresh random order: re-drawing the first one would
 * only move the address the caller has already seen, without spreading groups any better.
 */
export function vSwitchOrder(
  vSwitchIds: readonly string[],
  current: string,
  strategy: 'VSwitchOrdered' | 'VSwitchRandom',
  random: RandomBytes,
): string[] {
  const ids = [...new Set(vSwitchIds.length ? vSwitchIds : [current])];
  if (strategy !== 'VSwitchRandom') return ids;
  const rest = ids.filter((id) => id !== current);
  const bytes = random(Math.max(rest.length, 1));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = bytes[i] % (i + 1);
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return ids.includes(current) ? [current, ...rest] : rest;
}

export interface PlacementRequest {
  readonly cpu: number;
  readonly memory: number;
  /** Candidate vSwitches in the order to try (vSwitchOrder), each with its zone. */
  readonly vSwitches: readonly { readonly id: string; readonly zoneId: string }[];
  /** CreationTime, ms since the epoch, and how long the group may wait for a host at all. */
  readonly createdMs: number;
  readonly maxPendingMinute: number;
}

export interface PlacementChoice {
  readonly vSwitchId: string;
  readonly zoneId: string;
  readonly hostId: string;
}

export type PlacementPlan =
  /**
   * One choice per candidate vSwitch whose zone has a Ready host with room, in preference order. The
   * caller takes the first whose vSwitch can give the group a private address; `unfit` says why the
   * vSwitches before it (and those left out) had no host, for the reason if every choice fails.
   */
  | { readonly type: 'place'; readonly choices: readonly PlacementChoice[]; readonly unfit: readonly string[] }
  /** No host has registered in the region yet: keep Scheduling (a fresh install must not fail everything). */
  | { readonly type: 'wait' }
  | { readonly type: 'fail'; readonly reason: string };

/** `2 vCPU and 4 GiB` (numbers as given: 0.5, 1, 2.25). */
export const describeSize = (cpu: number, memory: number): string => `${cpu} vCPU and ${memory} GiB`;

/**
 * Where a group goes. `hosts` are every host of the group's region, whatever their status; an empty
 * list means no agent has ever registered there, and the group waits until MaxPendingMinute has passed
 * since its creation. Otherwise a zone without a fitting Ready host is a reason, and a group with no
 * fitting zone fails at once: waiting would hide a capacity problem behind a Scheduling that never ends.
 * Within a zone the host with the most free memory wins (ties: the most free CPU, then the id), which
 * spreads groups over hosts.
 */
export function planPlacement(req: PlacementRequest, hosts: readonly HostView[], usage: ReadonlyMap<string, Usage>, nowMs: number): PlacementPlan {
  if (hosts.length === 0) {
    const waitedMs = nowMs - req.createdMs;
    if (waitedMs >= req.maxPendingMinute * 60_000)
      return { type: 'fail', reason: `no host has registered in the region within MaxPendingMinute (${req.maxPendingMinute} minutes)` };
    return { type: 'wait' };
  }
  const choices: PlacementChoice[] = [];
  const unfit: string[] = [];
  const zonesSeen = new Map<string, string | undefined>();
  for (const vsw of req.vSwitches) {
    if (!zonesSeen.has(vsw.zoneId)) zonesSeen.set(vsw.zoneId, bestHost(req, hosts, usage, vsw.zoneId));
    const hostId = zonesSeen.get(vsw.zoneId);
    if (hostId) choices.push({ vSwitchId: vsw.id, zoneId: vsw.zoneId, hostId });
    else {
      const reason = `no Ready host in zone ${vsw.zoneId} has ${describeSize(req.cpu, req.memory)} free`;
      if (!unfit.includes(reason)) unfit.push(reason);
    }
  }
  if (choices.length) return { type: 'place', choices, unfit };
  if (req.vSwitches.length === 0) return { type: 'fail', reason: 'none of its vSwitches exists any more' };
  return { type: 'fail', reason: unfit.join('; ') };
}

function bestHost(req: PlacementRequest, hosts: readonly HostView[], usage: ReadonlyMap<string, Usage>, zoneId: string): string | undefined {
  let best: { id: string; cpu: number; memory: number } | undefined;
  for (const h of hosts) {
    if (h.zoneId !== zoneId || h.status !== 'Ready') continue;
    const used = usage.get(h.id);
    const cpu = h.cpu - (used?.cpu ?? 0);
    const memory = h.memory - (used?.memory ?? 0);
    if (cpu + EPSILON < req.cpu || memory + EPSILON < req.memory) continue;
    const better =
      !best || memory > best.memory || (memory === best.memory && (cpu > best.cpu || (cpu === best.cpu && h.id < best.id)));
    if (better) best = { id: h.id, cpu, memory };
  }
  return best?.id;
}
