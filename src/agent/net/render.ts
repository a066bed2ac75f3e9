// Pure renderers: desired state (topology.ts) → `ip -batch` lines and nft scripts.
//
// The nft table `inet eci` of one VPC router namespace:
// - maps `eip_in` (EIP → private IP, dnat) and `eip_out` (private IP → EIP, snat): 1:1 NAT, one element
//   per EIP each, so binding or unbinding an EIP is a constant-time element add/delete (renderEipDelta);
// - set `inst_addr` (router-side veth . private IP): anti-spoofing, an instance sends only from its own IP;
// - map `dnat_ip` (any-port IP mapping) and `dnat_port` (EIP . proto . port → IP . port; ranges expanded);
// - verdict map `snat_src` (disjoint source intervals → `goto snat_<n>`): the SNAT entries, most specific
//   scope first (split in topology.ts); a `snat_<n>` chain spreads over its SNAT IPs by a hash of the source;
// - chain `post` tries `eip_out` before `snat_src`, so an instance's own EIP wins over SNAT;
// - chain `egress` drops anything leaving through the uplink in the original direction without source
//   NAT: private addresses never leave the VPC, so "no EIP and no SNAT" means no way out;
// - chain `inbound` (input, policy drop): the router itself serves nothing;
// - chain `guard` (forward, policy drop): established/related accept, invalid drop, anti-spoofing, then
//   the security-group policy spliced in (`ForwardPolicy`); uplink → uplink is never forwarded;
// - optional chain `shape` and extension maps (`ForwardPolicy.postRules`/`maps`, e.g. bandwidth classes);
// - chain `fp`: one rule whose comment is a fingerprint of everything above except the elements of the
//   element-diffed maps (ELEMENT_MAPS and the extension maps). plan.ts re-renders the whole table (one
//   nft transaction) when the fingerprint or a chain/set is missing, and otherwise only adds/deletes
//   elements. The security-group part (`ForwardPolicy.sg`: member sets, group-set chains, interface
//   vmaps) is rendered into the table but left out of the fingerprint: plan.ts converges it with
//   renderSgDelta, so an instance joining or leaving, or a rule change, touches only its elements and
//   chains; an EIP never reloads the table either.

import { createHash } from 'node:crypto';
import type { SecurityGroupData } from '../../core/model.ts';
import { markSgChains, planSecurityGroups, renderSgForwardRules, renderSgPlan, type SgPlan } from './security-groups.ts';
import type { HostNetwork, InstanceNet, VpcNet } from './topology.ts';

export const NFT_TABLE = 'eci';

/**
 * What other renderers splice into the table: the security-group compiler (security-groups.ts) or the
 * placeholder policy, and optionally the bandwidth shaper (bandwidth.ts).
 */
export interface ForwardPolicy {
  /** Whole chain definitions (and sets/maps) placed inside `table inet eci { … }`. */
  readonly chains: string;
  /** Rules placed in the `guard` chain after the base rules (one per line). */
  readonly forwardRules: string;
  /**
   * Rules for chain `shape` (filter, postrouting, priority srcnat + 20: after source NAT, so the
   * source is already the EIP), e.g. bandwidth's `meta priority set ip saddr map @eip_prio_up`.
   */
  readonly postRules?: string;
  /**
   * Maps declared by the extension whose elements are diffed like eip_in (one element per change,
   * never a table reload), e.g. bandwidth's priority map. Values must be written as `nft -j` prints
   * them (e.g. classid `1:a`), or the planner re-adds them on every pass.
   */
  readonly maps?: readonly ExtraMap[];
  /**
   * The security-group plan (chains marked by markSgChains). Its declarations are placed in the table
   * with `chains` but are not part of the fingerprint: plan.ts converges them with renderSgDelta
   * against what the kernel holds. Only the empty maps `sg_in`, `sg_out` and the set `sg_ports` are
   * skeleton. `chains` then holds no security-group text.
   */
  readonly sg?: SgPlan;
}

export interface ExtraMap {
  readonly name: string;
  /** The map type, e.g. `ipv4_addr : classid`. */
  readonly type: string;
  readonly elements: ReadonlyMap<string, string>;
}

/** The maps/sets whose elements plan.ts diffs; everything else is part of the fingerprinted skeleton. */
export const ELEMENT_MAPS = ['eip_in', 'eip_out', 'inst_addr', 'dnat_ip', 'dnat_port'] as const;
export type ElementMap = (typeof ELEMENT_MAPS)[number];

/** Elements by map name, keyed by their rendered key; the value is the rendered value ('' for a set). */
export type Elements = Record<string, Map<string, string>>;

const quote = (s: string) => `"${s}"`;

/** The alias put on every link the agent creates, so leftovers are recognised by owner. */
export const linkAlias = (hostId: string, what: string): string => `eci:${hostId}:${what}`;

/**
 * The production policy: the security-group compiler (security-groups.ts) over the VPC's instances.
 * `groups` may hold more groups than the VPC's members use; only the named ones matter.
 */
export function securityGroupPolicy(vpc: VpcNet, groups: readonly SecurityGroupData[]): ForwardPolicy {
  const sg = planSecurityGroups({
    members: vpc.instances.map((i) => ({ ifname: i.routerVeth, ip: i.ip, securityGroupIds: i.securityGroupIds })),
    groups: groups.filter((g) => g.VpcId === vpc.vpcId),
  });
  return { chains: '', forwardRules: renderSgForwardRules(), sg: markSgChains(sg) };
}

const EMPTY_SG: SgPlan = { sets: new Map(), chains: new Map(), ingress: new Map(), egress: new Map() };

// ---- placeholder policy (tests only) -------------------------------------------------------------

/**
 * TEST-ONLY stand-in for the security-group compiler: instance → anything accept; uplink → instance
 * accept only for DNAT'ed/EIP traffic to the listed (protocol, internal port) pairs.
 */
export function placeholderTestPolicy(vpc: VpcNet, allow: readonly { protocol: 'tcp' | 'udp'; port: number }[]): ForwardPolicy {
  const up = quote(vpc.uplink.routerSide);
  const lines = [`iifname != ${up} accept`];
  if (allow.length)
    lines.push(`iifname ${up} ct status dnat meta l4proto . th dport { ${allow.map((a) => `${a.protocol} . ${a.port}`).join(', ')} } accept`);
  return { chains: '', forwardRules: lines.join('\n') };
}

/** ELEMENT_MAPS in their order, then other names alphabetically. */
function mapOrder(a: string, b: string): number {
  const ia = (ELEMENT_MAPS as readonly string[]).indexOf(a);
  const ib = (ELEMENT_MAPS as readonly string[]).indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- nft -------------------------------------------------------------------------------------------

/** The desired elements of the element-diffed maps (ELEMENT_MAPS and the policy's own maps). */
export function desiredElements(vpc: VpcNet, policy?: ForwardPolicy): Elements {
  const extra = Object.fromEntries((policy?.maps ?? []).map((m) => [m.name, new Map(m.elements)]));
  return {
    ...extra,
    eip_in: new Map(vpc.eips.map((e) => [e.ip, e.privateIp])),
    eip_out: new Map(vpc.eips.map((e) => [e.privateIp, e.ip])),
    inst_addr: new Map(vpc.instances.map((i) => [`${quote(i.routerVeth)} . ${i.ip}`, ''])),
    dnat_ip: new Map(vpc.dnatIp.map((d) => [d.externalIp, d.internalIp])),
    dnat_port: new Map(vpc.dnatPort.map((d) => [`${d.externalIp} . ${d.protocol} . ${d.externalPort}`, `${d.internalIp} . ${d.internalPort}`])),
  };
}

/** The names of the element-diffed maps of a VPC's table with `policy`. */
export function elementMapNames(policy?: ForwardPolicy): string[] {
  return [...ELEMENT_MAPS, ...(policy?.maps ?? []).map((m) => m.name)];
}

const ELEMENT_TYPES: Record<ElementMap, string> = {
  eip_in: 'map eip_in {\n    type ipv4_addr : ipv4_addr;',
  eip_out: 'map eip_out {\n    type ipv4_addr : ipv4_addr;',
  inst_addr: 'set inst_addr {\n    typeof iifname . ip saddr;',
  dnat_ip: 'map dnat_ip {\n    type ipv4_addr : ipv4_addr;',
  dnat_port: 'map dnat_port {\n    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;',
};

const elementText = (m: Map<string, string>): string[] => [...m].map(([k, v]) => (v ? `${k} : ${v}` : k));

function mapHeads(policy: ForwardPolicy): [string, string][] {
  return [
    ...ELEMENT_MAPS.map((n): [string, string] => [n, ELEMENT_TYPES[n]]),
    ...(policy.maps ?? []).map((m): [string, string] => [m.name, `map ${m.name} {\n    type ${m.type};`]),
  ];
}

/** The table body without elements; the security-group part as given (`sg`: full or empty). */
function skeleton(vpc: VpcNet, policy: ForwardPolicy, sg: SgPlan | undefined = policy.sg && EMPTY_SG): string {
  const up = quote(vpc.uplink.routerSide);
  const out: string[] = [];
  for (const [, head] of mapHeads(policy)) out.push(`  ${head}\n  }`);
  const snatElems = vpc.snat.map((s) => `${s.from === s.to ? s.from : `${s.from}-${s.to}`} : goto snat_${s.target}`);
  out.push(`  map snat_src {\n    type ipv4_addr : verdict;\n    flags interval;${snatElems.length ? `\n    elements = { ${snatElems.join(', ')} }` : ''}\n  }`);
  vpc.snatTargets.forEach((t, i) => {
    const stmt =
      t.ips.length === 1
        ? `snat ip to ${t.ips[0]}`
        : `snat ip to jhash ip saddr mod ${t.ips.length} map { ${t.ips.map((ip, k) => `${k} : ${ip}`).join(', ')} }`;
    out.push(`  chain snat_${i} {\n    ${stmt}\n  }`);
  });
  out.push(
    `  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n` +
      `    iifname ${up} dnat ip to ip daddr map @eip_in\n` +
      `    iifname ${up} dnat ip to ip daddr . meta l4proto . th dport map @dnat_port\n` +
      `    iifname ${up} dnat ip to ip daddr map @dnat_ip\n  }`,
  );
  out.push(
    `  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n` +
      `    oifname ${up} snat ip to ip saddr map @eip_out\n` +
      `    oifname ${up} ip saddr vmap @snat_src\n  }`,
  );
  out.push(
    `  chain egress {\n    type filter hook postrouting priority srcnat + 10; policy accept;\n` +
      `    oifname ${up} ct direction original ct status & snat == 0 drop\n  }`,
  );
  const post = (policy.postRules ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (post.length) out.push(`  chain shape {\n    type filter hook postrouting priority srcnat + 20; policy accept;\n${post.map((r) => `    ${r}\n`).join('')}  }`);
  out.push(`  chain inbound {\n    type filter hook input priority filter; policy drop;\n    iif "lo" accept\n    ct state established,related accept\n  }`);
  if (sg) out.push(indent(renderSgPlan(sg).chains.trim(), '  '));
  if (policy.chains.trim()) out.push(indent(policy.chains.trim(), '  '));
  const rules = policy.forwardRules
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  out.push(
    `  chain guard {\n    type filter hook forward priority filter; policy drop;\n` +
      `    ct state established,related accept\n    ct state invalid drop\n` +
      `    iifname != ${up} iifname . ip saddr != @inst_addr drop\n` +
      rules.map((r) => `    ${r}\n`).join('') +
      `  }`,
  );
  return out.join('\n');
}

function indent(text: string, pad: string): string {
  return text
    .split('\n')
    .map((l) => (l.trim() ? pad + l : l))
    .join('\n');
}

/** The fingerprint of a VPC's table skeleton (see the header). */
export function nftFingerprint(vpc: VpcNet, policy: ForwardPolicy): string {
  return createHash('sha256').update(skeleton(vpc, policy)).digest('hex').slice(0, 16);
}

/** Chain, set and map names the rendered table has (plan.ts checks they all exist). */
export function nftObjectNames(vpc: VpcNet, policy: ForwardPolicy): string[] {
  const text = skeleton(vpc, policy) + '\n  chain fp {';
  return [...text.matchAll(/^\s*(?:chain|set|map) ([A-Za-z0-9_]+) \{/gm)].map((m) => m[1]).sort();
}

/**
 * The whole table, elements included, as one nft script. Applied with `nft -f` it is one transaction:
 * the table is replaced atomically (existing conntrack entries and their NAT bindings survive).
 */
export function renderNftTable(vpc: VpcNet, policy: ForwardPolicy): string {
  const elems = desiredElements(vpc, policy);
  let body = skeleton(vpc, policy, policy.sg);
  for (const [name, head] of mapHeads(policy)) {
    const items = elementText(elems[name]);
    if (!items.length) continue;
    body = body.replace(`  ${head}\n  }`, `  ${head}\n    elements = { ${items.join(', ')} }\n  }`);
  }
  return (
    `table inet ${NFT_TABLE} {}\ndelete table inet ${NFT_TABLE}\n` +
    `table inet ${NFT_TABLE} {\n${body}\n  chain fp {\n    return comment "fp:${nftFingerprint(vpc, policy)}"\n  }\n}\n`
  );
}

/**
 * Element adds and deletes, as one nft script ('' when nothing changes). Deletes come first, so a key
 * whose value changed is deleted and re-added in the same transaction.
 */
export function renderElementDelta(add: Readonly<Record<string, Map<string, string>>>, remove: Readonly<Record<string, readonly string[]>>): string {
  const lines: string[] = [];
  for (const name of Object.keys(remove).sort(mapOrder)) {
    const keys = remove[name] ?? [];
    if (keys.length) lines.push(`delete element inet ${NFT_TABLE} ${name} { ${keys.join(', ')} }`);
  }
  for (const name of Object.keys(add).sort(mapOrder)) {
    const m = add[name];
    if (m && m.size) lines.push(`add element inet ${NFT_TABLE} ${name} { ${elementText(m).join(', ')} }`);
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * Binding/unbinding EIPs of one router: one element per map each, constant time whatever the number of
 * EIPs already loaded.
 */
export function renderEipDelta(
  added: readonly { ip: string; privateIp: string }[],
  removed: readonly { ip: string; privateIp: string }[],
): string {
  return renderElementDelta(
    { eip_in: new Map(added.map((e) => [e.ip, e.privateIp])), eip_out: new Map(added.map((e) => [e.privateIp, e.ip])) },
    { eip_in: removed.map((e) => e.ip), eip_out: removed.map((e) => e.privateIp) },
  );
}

// ---- ip -batch lines ---------------------------------------------------------------------------------

/** Lines for the host netns creating a VPC's uplink veth (router side moved into the router netns). */
export function uplinkCreateLines(host: HostNetwork, vpc: VpcNet): string[] {
  const u = vpc.uplink;
  return [
    `link add ${u.hostSide} type veth peer name ${u.routerSide} netns ${vpc.netns}`,
    `link set ${u.hostSide} alias ${linkAlias(host.hostId, `uplink:${vpc.vpcId}`)}`,
  ];
}

/** Host-side addressing of an uplink (idempotent: `replace`). */
export function uplinkHostLines(vpc: VpcNet): string[] {
  const u = vpc.uplink;
  return [`addr replace ${u.hostIp}/30 dev ${u.hostSide}`, `link set ${u.hostSide} up`];
}

/** Router-side addressing and default route (idempotent). */
export function uplinkRouterLines(vpc: VpcNet): string[] {
  const u = vpc.uplink;
  return [`link set lo up`, `addr replace ${u.routerIp}/30 dev ${u.routerSide}`, `link set ${u.routerSide} up`, `route replace default via ${u.hostIp} dev ${u.routerSide}`];
}

/** Host /32 route of one public address towards its VPC router. */
export const publicRouteLine = (vpc: VpcNet, ip: string): string => `route replace ${ip}/32 via ${vpc.uplink.routerIp} dev ${vpc.uplink.hostSide}`;

/** Router-netns lines creating an instance's veth (the peer is created as eth0 directly in its netns). */
export function instanceCreateLines(host: HostNetwork, inst: InstanceNet): string[] {
  return [`link add ${inst.routerVeth} type veth peer name eth0 netns ${inst.netns}`, `link set ${inst.routerVeth} alias ${linkAlias(host.hostId, `instance:${inst.groupId}`)}`];
}

/** Router-side of an instance: up, /32 route to it (idempotent). */
export function instanceRouterLines(inst: InstanceNet): string[] {
  return [`link set ${inst.routerVeth} up`, `route replace ${inst.ip}/32 dev ${inst.routerVeth}`];
}

/** Instance netns: lo, eth0 with the /32, the gateway on-link and the default route (idempotent). */
export function instanceNetnsLines(inst: InstanceNet): string[] {
  return [
    `link set lo up`,
    `addr replace ${inst.ip}/32 dev eth0`,
    `link set eth0 up`,
    `route replace ${inst.gateway}/32 dev eth0 scope link`,
    `route replace default via ${inst.gateway} dev eth0`,
  ];
}

/** Everything from scratch, per namespace, in creation order (used by the benchmark baseline and docs). */
export function renderIpBatches(host: HostNetwork): { netns: string | null; lines: string[] }[] {
  const out: { netns: string | null; lines: string[] }[] = [];
  for (const vpc of host.vpcs) {
    out.push({ netns: host.hostNetns, lines: [...uplinkCreateLines(host, vpc), ...uplinkHostLines(vpc)] });
    out.push({ netns: vpc.netns, lines: uplinkRouterLines(vpc) });
    for (const inst of vpc.instances) {
      out.push({ netns: vpc.netns, lines: [...instanceCreateLines(host, inst), ...instanceRouterLines(inst)] });
      out.push({ netns: inst.netns, lines: instanceNetnsLines(inst) });
    }
    out.push({ netns: host.hostNetns, lines: vpc.publicIps.map((ip) => publicRouteLine(vpc, ip)) });
  }
  return out.filter((b) => b.lines.length);
}
