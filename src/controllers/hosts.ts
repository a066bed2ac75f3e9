// The host controller: a host's Status follows its heartbeats (Unhealthy after `unhealthyAfterMs` of
// silence, Ready again when they resume), and the container groups placed on it show that status.
//
// A group on an Unhealthy host keeps its own status: nothing is known about its containers, so it is
// neither declared lost nor moved to another host (that would run it twice if the host is only cut
// off). It gains `HostStatus: 'Unhealthy'` and a Warning event `HostUnhealthy`; when the host is back it
// gets `HostStatus: 'Ready'` and a Normal event `HostReady`.
//
// Level-based and safe on several servers: each host is synced in one transaction that re-reads the
// host row and the groups, writes the host status and the groups' HostStatus together, and relies on
// optimistic versions (a racing heartbeat or placement makes it retry on the next pass). Because the
// host and its groups change together, a group's HostStatus can only disagree with its host if
// something else rewrote it; a periodic sweep repairs that too.

import { ApiError } from '../core/errors.ts';
import { KIND, type ContainerGroupData, type HostData, type HostStatus } from '../core/model.ts';
import { DEFAULT_UNHEALTHY_AFTER_MS, hostStatusAt, isFinalStatus } from '../core/placement.ts';
import { rfc3339 } from '../core/time.ts';
import type { Resource, Store, Tx } from '../store/store.ts';
import type { Controller, ControllerDeps } from './index.ts';

export interface HostControllerOptions {
  readonly intervalMs?: number;
  /** Silence after which a host is Unhealthy (default 15 s). */
  readonly unhealthyAfterMs?: number;
  /** How often a pass also checks every placed group's HostStatus against its host (default 10 s). */
  readonly sweepEveryMs?: number;
}

/** Non-final groups placed on `hostId`, read in the host's region. */
async function groupsOn(tx: Tx, host: Resource<HostData>): Promise<Resource<ContainerGroupData>[]> {
  const all = await tx.list<ContainerGroupData>({ kind: KIND.containerGroup, region: host.region });
  return all.filter((g) => g.data.HostId === host.id && !isFinalStatus(g.status));
}

/**
 * Brings one host and its groups to the status its heartbeat calls for at `now`. Returns whether it
 * wrote anything. Throws OperationConflict when a row changed meanwhile (the caller retries later).
 */
export async function syncHost(store: Store, hostId: string, now: Date, unhealthyAfterMs = DEFAULT_UNHEALTHY_AFTER_MS): Promise<boolean> {
  return store.tx(async (tx) => {
    const host = await tx.get<HostData>(KIND.host, hostId);
    if (!host) return false;
    const status = hostStatusAt(host.data.LastHeartbeat, now.getTime(), unhealthyAfterMs);
    let wrote = false;
    if (host.status !== status || host.data.Status !== status) {
      host.status = status;
      host.data = { ...host.data, Status: status };
      await tx.update(host);
      wrote = true;
    }
    for (const g of await groupsOn(tx, host)) {
      if (g.data.HostStatus === status) continue;
      const was = g.data.HostStatus;
      g.data = { ...g.data, HostStatus: status };
      await tx.update(g);
      wrote = true;
      await groupEvent(tx, g, host, status, was, now);
    }
    return wrote;
  });
}

async function groupEvent(tx: Tx, g: Resource<ContainerGroupData>, host: Resource<HostData>, status: HostStatus, was: HostStatus | undefined, now: Date): Promise<void> {
  const nowText = rfc3339(now);
  if (status === 'Unhealthy')
    await tx.addEvent(g.account, {
      resourceId: g.id,
      type: 'Warning',
      reason: 'HostUnhealthy',
      message: `Host ${host.id} has not reported since ${host.data.LastHeartbeat}; the state of the container group is unknown until it does. The group stays on that host.`,
    }, nowText);
  else if (was === 'Unhealthy')
    await tx.addEvent(g.account, { resourceId: g.id, type: 'Normal', reason: 'HostReady', message: `Host ${host.id} is reporting again.` }, nowText);
}

export function hostController(deps: ControllerDeps, opts: HostControllerOptions = {}): Controller {
  const intervalMs = opts.intervalMs ?? 1000;
  const unhealthyAfterMs = opts.unhealthyAfterMs ?? DEFAULT_UNHEALTHY_AFTER_MS;
  const sweepEveryMs = opts.sweepEveryMs ?? 10_000;
  let lastSweep = -Infinity;
  return {
    name: 'hosts',
    intervalMs,
    async reconcile(now: Date): Promise<void> {
      const hosts = await deps.store.list<HostData>({ kind: KIND.host });
      if (!hosts.length) return;
      const todo = new Set<string>();
      for (const h of hosts) if (h.status !== hostStatusAt(h.data.LastHeartbeat, now.getTime(), unhealthyAfterMs)) todo.add(h.id);
      const sweep = now.getTime() - lastSweep >= sweepEveryMs;
      if (sweep) {
        const statusOf = new Map(hosts.map((h) => [h.id, h.status]));
        for (const g of await deps.store.list<ContainerGroupData>({ kind: KIND.containerGroup })) {
          const hostId = g.data.HostId;
          if (!hostId || isFinalStatus(g.status) || !statusOf.has(hostId)) continue;
          if (g.data.HostStatus !== statusOf.get(hostId)) todo.add(hostId);
        }
      }
      for (const id of todo) {
        try {
          await syncHost(deps.store, id, now, unhealthyAfterMs);
        } catch (e) {
          // A heartbeat, a placement or an API call changed a row: the next pass re-reads.
          if (e instanceof ApiError && e.code === 'OperationConflict') continue;
          console.error(`controller hosts: ${id}:`, e);
        }
      }
      if (sweep) lastSweep = now.getTime();
    },
  };
}
