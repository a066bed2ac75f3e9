// The EIP controller completes what the EIP actions start: Associating → InUse once the target is ready,
// Unassociating → Available, and it returns or releases EIPs whose container group is gone.
//
// Level-based: every pass re-reads the store, plans with the pure `planEip`, then applies each change in
// its own transaction that re-reads the rows and re-plans, so a change that raced an API call (or another
// server's controller) is simply skipped and looked at again on the next pass. Safe to run on several
// servers at once: every write is an optimistic-version update.
//
// What "ready" means: a NAT gateway is ready once it exists; a container group once it is placed with its
// network up (ECI_STATUSES_TAKING_EIP). Until a host agent brings a group past `Scheduling`, its EIP
// honestly stays Associating.

import { ApiError } from '../core/errors.ts';
import { KIND, type ContainerGroupNetworkData, type EipData } from '../core/model.ts';
import type { Resource, Store, Tx } from '../store/store.ts';
import { ECI_STATUSES_TAKING_EIP, forgetEip, unboundData } from '../api/resources/eip.ts';
import type { Controller, ControllerDeps } from './index.ts';

/** The part of an EIP row the planner reads. */
export type EipView = Pick<Resource<EipData>, 'id' | 'status' | 'data'>;

/** What the planner knows of the EIPs' targets. */
export interface EipTargets {
  /** Container groups by id (those the EIPs refer to; a missing one is gone). */
  readonly groups: ReadonlyMap<string, { readonly status: string; readonly data: ContainerGroupNetworkData }>;
  /** Ids of the NAT gateways that exist. */
  readonly natGateways: ReadonlySet<string>;
}

export type EipTransition =
  /** Associating → InUse; with a group, the group gets the address as its InternetIp. */
  | { readonly type: 'bind'; readonly eipId: string; readonly groupId?: string }
  /** → Available with the binding cleared (unassociation done, or the target is gone); the group forgets the EIP. */
  | { readonly type: 'unbind'; readonly eipId: string; readonly groupId?: string }
  /** The row and its address go: an auto-created EIP whose container group is gone. */
  | { readonly type: 'release'; readonly eipId: string }
  /** InUse, but the container group does not show the EIP (repair). */
  | { readonly type: 'markGroup'; readonly eipId: string; readonly groupId: string };

const BOUND_STATUSES = new Set(['Associating', 'InUse', 'Unassociating']);

/** The transition one EIP needs now, or undefined when it is converged. Pure. */
export function planEip(eip: EipView, targets: EipTargets): EipTransition | undefined {
  const d = eip.data;
  const eipId = eip.id;
  // An auto-created EIP follows its container group; one in a bandwidth package is only detached, since
  // the package would keep a dangling member.
  const creatorGone = d.AutoCreatedBy !== '' && !targets.groups.has(d.AutoCreatedBy) && d.BandwidthPackageId === '';
  if (eip.status === 'Releasing') return { type: 'release', eipId };
  if (eip.status === 'Available') return creatorGone ? { type: 'release', eipId } : undefined;
  if (!BOUND_STATUSES.has(eip.status)) return undefined;

  if (d.InstanceType === 'EciInstance') {
    const group = targets.groups.get(d.InstanceId);
    if (!group) return creatorGone && d.AutoCreatedBy === d.InstanceId ? { type: 'release', eipId } : { type: 'unbind', eipId };
    const groupId = d.InstanceId;
    const claimed = group.data.EipAllocationId;
    if (eip.status === 'Unassociating') return { type: 'unbind', eipId, groupId };
    // The group names another EIP: leave both alone rather than steal it.
    if (claimed !== '' && claimed !== eipId) return undefined;
    if (eip.status === 'Associating') return ECI_STATUSES_TAKING_EIP.has(group.status) ? { type: 'bind', eipId, groupId } : undefined;
    return claimed !== eipId || group.data.InternetIp !== d.IpAddress ? { type: 'markGroup', eipId, groupId } : undefined;
  }
  if (d.InstanceType === 'Nat') {
    if (!targets.natGateways.has(d.InstanceId) || eip.status === 'Unassociating') return { type: 'unbind', eipId };
    return eip.status === 'Associating' ? { type: 'bind', eipId } : undefined;
  }
  // Bound to nothing OpenECI knows: nothing can complete it, so it returns to Available.
  return { type: 'unbind', eipId };
}

/** Plans every EIP. Pure; the table tests drive this. */
export function planEips(eips: readonly EipView[], targets: EipTargets): EipTransition[] {
  const out: EipTransition[] = [];
  for (const eip of eips) {
    const t = planEip(eip, targets);
    if (t) out.push(t);
  }
  return out;
}

/** The ids of the container groups and NAT gateways the planner needs for these EIPs. */
function referencedIds(eips: readonly EipView[]): { groups: string[]; nats: string[] } {
  const groups = new Set<string>();
  const nats = new Set<string>();
  for (const { data } of eips) {
    if (data.AutoCreatedBy) groups.add(data.AutoCreatedBy);
    if (data.InstanceType === 'EciInstance' && data.InstanceId) groups.add(data.InstanceId);
    if (data.InstanceType === 'Nat' && data.InstanceId) nats.add(data.InstanceId);
  }
  return { groups: [...groups], nats: [...nats] };
}

/** Bounded IN lists: SQLite caps the number of bound parameters. */
const ID_CHUNK = 500;

async function readTargets(tx: Tx, eips: readonly EipView[]): Promise<{ targets: EipTargets; groupRows: Map<string, Resource<ContainerGroupNetworkData>> }> {
  const ids = referencedIds(eips);
  const groupRows = new Map<string, Resource<ContainerGroupNetworkData>>();
  const natGateways = new Set<string>();
  for (let i = 0; i < ids.groups.length; i += ID_CHUNK)
    for (const g of await tx.list<ContainerGroupNetworkData>({ kind: KIND.containerGroup, ids: ids.groups.slice(i, i + ID_CHUNK) })) groupRows.set(g.id, g);
  for (let i = 0; i < ids.nats.length; i += ID_CHUNK)
    for (const n of await tx.list({ kind: KIND.natGateway, ids: ids.nats.slice(i, i + ID_CHUNK) })) natGateways.add(n.id);
  return { targets: { groups: groupRows, natGateways }, groupRows };
}

/**
 * Applies one planned transition in its own transaction: re-reads the EIP and its targets, re-plans, and
 * acts only if the fresh plan is still the same kind of change. Returns whether it wrote.
 */
export async function applyEipTransition(store: Store, planned: EipTransition, account: string): Promise<boolean> {
  return store.tx(async (tx) => {
    const eip = await tx.get<EipData>(KIND.eip, planned.eipId);
    if (!eip) return false;
    const { targets, groupRows } = await readTargets(tx, [eip]);
    const t = planEip(eip, targets);
    if (!t || t.type !== planned.type) return false;
    const group = 'groupId' in t && t.groupId ? groupRows.get(t.groupId) : undefined;
    switch (t.type) {
      case 'bind':
        eip.status = 'InUse';
        await tx.update(eip);
        if (group) await setGroupEip(tx, group, eip.id, eip.data.IpAddress);
        return true;
      case 'markGroup':
        if (group) await setGroupEip(tx, group, eip.id, eip.data.IpAddress);
        return true;
      case 'unbind':
        eip.status = 'Available';
        eip.data = unboundData(eip.data);
        await tx.update(eip);
        if (group && group.data.EipAllocationId === eip.id) await setGroupEip(tx, group, '', '');
        return true;
      case 'release':
        await forgetEip(tx, eip);
        return true;
    }
  }, `account:${account}`);
}

async function setGroupEip(tx: Tx, group: Resource<ContainerGroupNetworkData>, allocationId: string, internetIp: string): Promise<void> {
  group.data = { ...group.data, EipAllocationId: allocationId, InternetIp: internetIp };
  await tx.update(group);
}

export interface EipControllerOptions {
  readonly intervalMs?: number;
  /**
   * How often a pass also reads the settled EIPs (InUse, Available) to find those whose group is gone;
   * the other passes read only the transitional ones, so a pass stays cheap with many EIPs.
   */
  readonly sweepEveryMs?: number;
}

export function eipController(deps: ControllerDeps, opts: EipControllerOptions = {}): Controller {
  const intervalMs = opts.intervalMs ?? 200;
  const sweepEveryMs = opts.sweepEveryMs ?? 2000;
  let lastSweep = -Infinity;
  return {
    name: 'eip',
    intervalMs,
    async reconcile(now: Date): Promise<void> {
      const sweep = now.getTime() - lastSweep >= sweepEveryMs;
      const eips: Resource<EipData>[] = [];
      if (sweep) eips.push(...(await deps.store.list<EipData>({ kind: KIND.eip })));
      else
        for (const status of ['Associating', 'Unassociating', 'Releasing'])
          eips.push(...(await deps.store.list<EipData>({ kind: KIND.eip, status })));
      const { targets } = await readTargets(deps.store, eips);
      const accountOf = new Map(eips.map((e) => [e.id, e.account]));
      for (const t of planEips(eips, targets)) {
        try {
          await applyEipTransition(deps.store, t, accountOf.get(t.eipId)!);
        } catch (e) {
          // A row changed under us: the next pass re-reads and re-plans.
          if (e instanceof ApiError && e.code === 'OperationConflict') continue;
          console.error(`controller eip: ${t.type} ${t.eipId}:`, e);
        }
      }
      if (sweep) lastSweep = now.getTime();
    },
  };
}
