// The desired network state of one host, derived from store data by a pure function.
//
// Contracts:
// - `deriveHostNetwork` is pure and deterministic: the same input gives the same output, whatever the
//   order of the input lists. Nothing here reads the kernel; plan.ts compares this with what observe.ts saw.
// - Only VPCs with at least one instance on this host get a router namespace (nothing would be routed
//   through it otherwise). A NAT gateway's SNAT/DNAT entries are programmed in its VPC's router on every
//   host that has that router.
// - Inconsistent rows (a group whose vSwitch is missing, a SNAT IP not bound to its gateway, two groups
//   holding one private IP in a VPC — the smaller id keeps it, …) are left out and reported in
//   `skipped`, never thrown: one bad row must not stop a host from converging.
// - An instance's EIP is programmed while the EIP is Associating or InUse (the EIP controller moves it
//   to InUse once the group runs, so the data plane must already carry it); Unassociating withdraws it.

import { createHash } from 'node:crypto';
import { contains, formatIp, lastAddress, parseCidr, parseIp, vSwitchUsableRange, type Cidr } from '../../core/cidr.ts';
import type {
  ContainerGroupNetworkData,
  EipData,
  ForwardEntryData,
  NatGatewayData,
  SnatEntryData,
  VSwitchData,
  VpcData,
} from '../../core/model.ts';
import { parseNatPort, parseNatProtocol, parseSnatSource } from '../../core/nat.ts';
import { instanceNetnsName, instanceVeth, routerNetnsName, shortId, uplinkVeth } from './names.ts';

/** An EIP row as the agent reads it: the status lives on the row, not in `data`. */
export interface EipRow {
  readonly status: string;
  readonly data: EipData;
}

export interface HostNetworkInput {
  readonly hostId: string;
  /**
   * The namespace holding the public side: null for the agent's own namespace (production), a netns
   * name in `eci dev` and tests (see host.ts). Defaults to null.
   */
  readonly hostNetns?: string | null;
  /** Groups placed on this host whose network must exist (the caller filters by host and status). */
  readonly groups: readonly ContainerGroupNetworkData[];
  readonly vpcs: readonly VpcData[];
  readonly vSwitches: readonly VSwitchData[];
  readonly eips: readonly EipRow[];
  readonly natGateways: readonly NatGatewayData[];
  readonly snatEntries: readonly SnatEntryData[];
  readonly forwardEntries: readonly ForwardEntryData[];
  /**
   * VPCs whose router stays although no instance of theirs is on the host (any in `vpcs`): the agent keeps
   * a router briefly after its last instance left, so a delete followed by a create does not tear the
   * router down and build it again.
   */
  readonly keepVpcs?: readonly string[];
}

export interface UplinkNet {
  /** `u…` in the router netns. */
  readonly routerSide: string;
  /** `h…` in the host netns. */
  readonly hostSide: string;
  /** The /30 network, e.g. `169.254.12.4`; the host side is network+1, the router side network+2. */
  readonly network: string;
  readonly hostIp: string;
  readonly routerIp: string;
}

export interface InstanceNet {
  readonly groupId: string;
  readonly vpcId: string;
  readonly vSwitchId: string;
  readonly netns: string;
  /** The veth end in the router netns (`r…`). */
  readonly routerVeth: string;
  /** The veth end in the instance netns is always `eth0`. */
  readonly ip: string;
  /** network+1 of the vSwitch: answered by proxy ARP on the router side, never configured as an address. */
  readonly gateway: string;
  /** The bound EIP's address, if any (Associating or InUse). */
  readonly eip?: string;
  readonly securityGroupIds: readonly string[];
}

/** One disjoint source interval and the SNAT entry that wins for it (the most specific scope). */
export interface SnatInterval {
  readonly from: string;
  readonly to: string;
  /** Index into `VpcNet.snatTargets`. */
  readonly target: number;
}

export interface SnatTarget {
  readonly entryId: string;
  /** One or more SNAT addresses; several are spread over by a hash of the source address. */
  readonly ips: readonly string[];
}

export interface DnatPortEntry {
  readonly externalIp: string;
  readonly protocol: 'tcp' | 'udp';
  readonly externalPort: number;
  readonly internalIp: string;
  readonly internalPort: number;
}

export interface VpcNet {
  readonly vpcId: string;
  readonly cidr: string;
  readonly netns: string;
  readonly uplink: UplinkNet;
  /** Sorted by group id. */
  readonly instances: readonly InstanceNet[];
  /** EIP → private IP (1:1 NAT), sorted by EIP. */
  readonly eips: readonly { readonly ip: string; readonly privateIp: string }[];
  readonly snatTargets: readonly SnatTarget[];
  /** Sorted, disjoint. */
  readonly snat: readonly SnatInterval[];
  /** Any-port DNAT (IP mapping), sorted by external IP. */
  readonly dnatIp: readonly { readonly externalIp: string; readonly internalIp: string }[];
  /** Port DNAT, ranges expanded to one entry per port, sorted. */
  readonly dnatPort: readonly DnatPortEntry[];
  /** Public addresses the host routes to this VPC's uplink: instance EIPs and the NAT gateway's EIPs. */
  readonly publicIps: readonly string[];
}

export interface HostNetwork {
  readonly hostId: string;
  /** The namespace-name prefix of everything this host owns (`<hostShort>-`). */
  readonly prefix: string;
  readonly hostNetns: string | null;
  /** Sorted by VPC id. */
  readonly vpcs: readonly VpcNet[];
  readonly skipped: readonly { readonly id: string; readonly reason: string }[];
}

/** EIP statuses in which the data plane carries the binding (Unassociating: already withdrawn). */
const EIP_PROGRAMMED = new Set(['Associating', 'InUse']);

// ---- uplink addressing -------------------------------------------------------------------------
//
// Each VPC router on a host gets one /30 of 169.254.0.0/16 for its uplink. The slot is a hash of the
// VPC id (so it is the same on every restart and on every host, whatever other VPCs exist), with
// linear probing on collision. VPCs are placed in order of creation (CreationTime, then id), so a newly
// created VPC never displaces an older one; only when an older VPC first lands on a host after a newer
// one already took its hash slot (probability ≈ n²/32768 for n VPCs on a host) does the newer one move,
// and plan.ts then re-addresses its uplink. Slot 0 and the slot of 169.254.169.254 (metadata address
// by convention) are never used.

const LINK_LOCAL = parseIp('169.254.0.0')!;
const UPLINK_SLOTS = 16384;
const RESERVED_SLOTS = new Set([0, (parseIp('169.254.169.254')! - LINK_LOCAL) >>> 2]);

function hashSlot(vpcId: string): number {
  return createHash('sha256').update(vpcId).digest().readUInt32BE(0) % UPLINK_SLOTS;
}

/** Slots for the given VPCs (pure; see the scheme above). `order` must be creation order. */
export function allocateUplinkSlots(order: readonly string[]): Map<string, number> {
  const taken = new Set(RESERVED_SLOTS);
  const out = new Map<string, number>();
  for (const id of order) {
    let s = hashSlot(id);
    while (taken.has(s)) s = (s + 1) % UPLINK_SLOTS;
    taken.add(s);
    out.set(id, s);
  }
  return out;
}

export function uplinkAddresses(slot: number): { network: string; hostIp: string; routerIp: string } {
  const net = LINK_LOCAL + slot * 4;
  return { network: formatIp(net), hostIp: formatIp(net + 1), routerIp: formatIp(net + 2) };
}

// ---- SNAT: most specific scope wins ------------------------------------------------------------

export interface SnatScopeInput {
  readonly cidr: Cidr;
  readonly target: number;
}

/**
 * Splits nested/disjoint CIDR scopes into disjoint intervals, each carrying the target of the most
 * specific (longest-prefix) scope covering it. nft interval maps refuse overlapping elements, so the
 * longest-prefix rule is resolved here. Two scopes with the same CIDR: the first given wins. Adjacent
 * intervals with the same target are merged.
 */
export function splitSnatScopes(scopes: readonly SnatScopeInput[]): { from: number; to: number; target: number }[] {
  const points = new Set<number>();
  for (const s of scopes) {
    points.add(s.cidr.network);
    points.add(lastAddress(s.cidr) + 1);
  }
  const sorted = [...points].sort((a, b) => a - b);
  const out: { from: number; to: number; target: number }[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const from = sorted[i];
    const to = sorted[i + 1] - 1;
    let best: SnatScopeInput | undefined;
    for (const s of scopes) if (contains(s.cidr, from) && (!best || s.cidr.prefix > best.cidr.prefix)) best = s;
    if (!best) continue;
    const prev = out[out.length - 1];
    if (prev && prev.target === best.target && prev.to + 1 === from) prev.to = to;
    else out.push({ from, to, target: best.target });
  }
  return out;
}

// ---- derivation ----------------------------------------------------------------------------------

const byKey = <T>(key: (t: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
const ipOrder = (a: string, b: string) => (parseIp(a) ?? 0) - (parseIp(b) ?? 0);

export function deriveHostNetwork(input: HostNetworkInput): HostNetwork {
  const hostId = input.hostId;
  const skipped: { id: string; reason: string }[] = [];
  const vpcById = new Map(input.vpcs.map((v) => [v.VpcId, v]));
  const vswById = new Map(input.vSwitches.map((v) => [v.VSwitchId, v]));

  // Instances, grouped by VPC.
  const instancesByVpc = new Map<string, InstanceNet[]>();
  const eipByGroup = new Map<string, string>();
  for (const e of [...input.eips].sort(byKey((e) => e.data.AllocationId)))
    if (EIP_PROGRAMMED.has(e.status) && e.data.InstanceType === 'EciInstance' && e.data.InstanceId && !eipByGroup.has(e.data.InstanceId))
      eipByGroup.set(e.data.InstanceId, e.data.IpAddress);
  const seenIp = new Map<string, string>();
  for (const g of [...input.groups].sort(byKey((g) => g.ContainerGroupId))) {
    const vsw = vswById.get(g.VSwitchId);
    const vpc = vpcById.get(g.VpcId);
    const cidr = vsw ? parseCidr(vsw.CidrBlock) : undefined;
    const ip = parseIp(g.IntranetIp);
    if (!vpc || !vsw || vsw.VpcId !== g.VpcId || !cidr) {
      skipped.push({ id: g.ContainerGroupId, reason: `vSwitch ${g.VSwitchId} of VPC ${g.VpcId} is unknown` });
      continue;
    }
    if (ip === undefined || !contains(cidr, ip)) {
      skipped.push({ id: g.ContainerGroupId, reason: `private IP "${g.IntranetIp}" is not in vSwitch ${vsw.VSwitchId} (${vsw.CidrBlock})` });
      continue;
    }
    const dupKey = `${g.VpcId}/${g.IntranetIp}`;
    if (seenIp.has(dupKey)) {
      skipped.push({ id: g.ContainerGroupId, reason: `private IP ${g.IntranetIp} is also held by ${seenIp.get(dupKey)}` });
      continue;
    }
    seenIp.set(dupKey, g.ContainerGroupId);
    const list = instancesByVpc.get(g.VpcId) ?? [];
    const eip = eipByGroup.get(g.ContainerGroupId);
    list.push({
      groupId: g.ContainerGroupId,
      vpcId: g.VpcId,
      vSwitchId: g.VSwitchId,
      netns: instanceNetnsName(hostId, g.ContainerGroupId),
      routerVeth: instanceVeth(hostId, g.ContainerGroupId).routerSide,
      ip: g.IntranetIp,
      gateway: formatIp(vSwitchUsableRange(cidr).gateway),
      ...(eip ? { eip } : {}),
      securityGroupIds: [...g.SecurityGroupIds],
    });
    instancesByVpc.set(g.VpcId, list);
  }

  for (const vpcId of input.keepVpcs ?? []) if (vpcById.has(vpcId) && !instancesByVpc.has(vpcId)) instancesByVpc.set(vpcId, []);
  const vpcIds = [...instancesByVpc.keys()];
  const creationOrder = [...vpcIds].sort((a, b) => {
    const ta = vpcById.get(a)!.CreationTime;
    const tb = vpcById.get(b)!.CreationTime;
    return ta < tb ? -1 : ta > tb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
  const slots = allocateUplinkSlots(creationOrder);

  const vpcs: VpcNet[] = [];
  for (const vpcId of vpcIds.sort()) {
    const vpc = vpcById.get(vpcId)!;
    const instances = instancesByVpc.get(vpcId)!;
    const names = uplinkVeth(hostId, vpcId);
    const uplink: UplinkNet = { routerSide: names.routerSide, hostSide: names.hostSide, ...uplinkAddresses(slots.get(vpcId)!) };
    const eips = instances.filter((i) => i.eip).map((i) => ({ ip: i.eip!, privateIp: i.ip }));

    // NAT gateways of this VPC and the EIPs bound to them.
    const gateways = input.natGateways.filter((n) => n.VpcId === vpcId);
    const gatewayIds = new Set(gateways.map((n) => n.NatGatewayId));
    const natIps = new Set(
      input.eips
        .filter((e) => EIP_PROGRAMMED.has(e.status) && e.data.InstanceType === 'Nat' && gatewayIds.has(e.data.InstanceId))
        .map((e) => e.data.IpAddress),
    );
    const natIpOwner = new Map(
      input.eips.filter((e) => natIps.has(e.data.IpAddress)).map((e) => [e.data.IpAddress, e.data.InstanceId] as const),
    );

    // SNAT.
    const snatTargets: SnatTarget[] = [];
    const scopes: SnatScopeInput[] = [];
    for (const s of input.snatEntries.filter((s) => gatewayIds.has(s.NatGatewayId)).sort(byKey((s) => s.SnatEntryId))) {
      const ips = (s.SnatIp ? s.SnatIp.split(',') : []).map((x) => x.trim()).filter(Boolean);
      const bad = ips.find((ip) => natIpOwner.get(ip) !== s.NatGatewayId);
      if (!ips.length || bad) {
        skipped.push({ id: s.SnatEntryId, reason: `SNAT IP ${bad ?? '(none)'} is not bound to NAT gateway ${s.NatGatewayId}` });
        continue;
      }
      let cidr: Cidr | undefined;
      if (s.SourceVSwitchId) {
        const vsw = vswById.get(s.SourceVSwitchId);
        cidr = vsw ? parseCidr(vsw.CidrBlock) : undefined;
      } else cidr = parseSnatSource(s.SourceCIDR);
      if (!cidr) {
        skipped.push({ id: s.SnatEntryId, reason: `source ${s.SourceVSwitchId || s.SourceCIDR} is unknown or malformed` });
        continue;
      }
      scopes.push({ cidr, target: snatTargets.length });
      snatTargets.push({ entryId: s.SnatEntryId, ips: [...ips].sort(ipOrder) });
    }
    // Sort scopes so that equal CIDRs resolve to the entry with the smaller id (first given wins).
    const snat = splitSnatScopes(scopes).map((i) => ({ from: formatIp(i.from), to: formatIp(i.to), target: i.target }));

    // DNAT.
    const dnatIp: { externalIp: string; internalIp: string }[] = [];
    const dnatPort: DnatPortEntry[] = [];
    for (const f of input.forwardEntries.filter((f) => gatewayIds.has(f.NatGatewayId)).sort(byKey((f) => f.ForwardEntryId))) {
      const proto = parseNatProtocol(f.IpProtocol);
      const ext = parseNatPort(f.ExternalPort);
      const int = parseNatPort(f.InternalPort);
      if (natIpOwner.get(f.ExternalIp) !== f.NatGatewayId) {
        skipped.push({ id: f.ForwardEntryId, reason: `external IP ${f.ExternalIp} is not bound to NAT gateway ${f.NatGatewayId}` });
        continue;
      }
      if (!proto || !ext || !int || parseIp(f.InternalIp) === undefined) {
        skipped.push({ id: f.ForwardEntryId, reason: 'malformed protocol, port or internal IP' });
        continue;
      }
      if (proto === 'any' || ext.any || int.any) {
        dnatIp.push({ externalIp: f.ExternalIp, internalIp: f.InternalIp });
        continue;
      }
      if (ext.to - ext.from !== int.to - int.from) {
        skipped.push({ id: f.ForwardEntryId, reason: 'external and internal port ranges differ in width' });
        continue;
      }
      for (let k = 0; k <= ext.to - ext.from; k++)
        dnatPort.push({ externalIp: f.ExternalIp, protocol: proto, externalPort: ext.from + k, internalIp: f.InternalIp, internalPort: int.from + k });
    }
    dnatIp.sort((a, b) => ipOrder(a.externalIp, b.externalIp));
    dnatPort.sort((a, b) => ipOrder(a.externalIp, b.externalIp) || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) || a.externalPort - b.externalPort);

    const publicIps = [...new Set([...eips.map((e) => e.ip), ...natIps])].sort(ipOrder);
    vpcs.push({
      vpcId,
      cidr: vpc.CidrBlock,
      netns: routerNetnsName(hostId, vpcId),
      uplink,
      instances,
      eips: eips.sort((a, b) => ipOrder(a.ip, b.ip)),
      snatTargets,
      snat,
      dnatIp,
      dnatPort,
      publicIps,
    });
  }

  return { hostId, prefix: `${shortId(hostId)}-`, hostNetns: input.hostNetns ?? null, vpcs, skipped };
}
