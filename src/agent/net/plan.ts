// Pure planner: desired (topology.ts) vs observed (observe.ts) → ordered, idempotent steps.
//
// Contracts:
// - A converged host plans no steps; every step is safe to repeat (`replace`, tolerant deletes).
// - Steps are grouped in units (`instance:<id>`, `vpc:<id>`, `leftover:<name>`, `host`), in this order:
//   leftovers (stale veths and routers' links, then every stale netns in one batch, then host-side
//   links and routes), then per VPC its router unit followed by its instances' units. apply.ts unwinds
//   a failed unit's creations in reverse.
// - Leftovers are recognised by the host's namespace prefix (`<hostShort>-`) and by the alias
//   (`eci:<hostId>:…`) on links the agent created, never by guessing: nothing else is touched.
// - nft: the whole table is re-rendered (one transaction) when it is missing, its fingerprint differs
//   or one of its chains/sets is gone (a flushed table loses the fingerprint rule); otherwise only the
//   elements of the element maps are added/deleted, so one EIP costs one element per map.
// - Security groups (`ForwardPolicy.sg`) are outside the fingerprint: their state is read back from the
//   kernel (member sets, interface vmaps, and each chain's content mark, see markSgChains) and
//   converged with renderSgDelta in the same nft transaction as the element delta, so an instance
//   coming or going or a rule change never reloads the table. What the kernel holds is the only
//   input (nothing is remembered between passes, so an agent restart changes nothing); when it is not
//   readable as an SG state (the ports set disagrees with the ingress map, a vmap value that is not a
//   jump) the whole table is reloaded instead, and a delta step that the kernel refuses (it changed
//   since the listing) falls back to the whole table in the same pass (`NetStep.fallback`).

import {
  desiredElements,
  elementMapNames,
  instanceCreateLines,
  instanceNetnsLines,
  instanceRouterLines,
  linkAlias,
  nftFingerprint,
  nftObjectNames,
  NFT_TABLE,
  publicRouteLine,
  renderElementDelta,
  renderNftTable,
  uplinkCreateLines,
  uplinkHostLines,
  uplinkRouterLines,
  type ForwardPolicy,
} from './render.ts';
import type { ObservedHost, ObservedLink, ObservedNetns, ObservedNft, ObservedRoute } from './observe.ts';
import { instanceNetnsName } from './names.ts';
import { renderSgDelta, SG_EGRESS_MAP, SG_INGRESS_MAP, SG_PORTS_SET, sgChainMark, type SgPlan } from './security-groups.ts';
import type { HostNetwork, InstanceNet, VpcNet } from './topology.ts';

export type NetOp =
  | { readonly type: 'netnsAdd'; readonly name: string }
  | { readonly type: 'netnsDel'; readonly name: string }
  /** `ip -batch`; with `bestEffort` errors are ignored (deleting what may already be gone). */
  | { readonly type: 'ip'; readonly netns: string | null; readonly lines: readonly string[]; readonly bestEffort?: boolean }
  | { readonly type: 'nft'; readonly netns: string; readonly script: string }
  /** `sysctl -w` in a namespace; keys as `net.ipv4.ip_forward`. */
  | { readonly type: 'sysctl'; readonly netns: string; readonly values: Readonly<Record<string, string>> };

export interface NetStep {
  readonly unit: string;
  readonly what: string;
  readonly op: NetOp;
  /** Registered when the step creates kernel state; run in reverse when a later step of the unit fails. */
  readonly undo?: NetOp;
  /**
   * Run instead when `op` fails: a delta computed from a listing the kernel no longer matches (it
   * changed in between) is replaced by the full, unconditional form (the whole table).
   */
  readonly fallback?: NetOp;
}

export type PolicyFor = (vpc: VpcNet) => ForwardPolicy;

const EMPTY: ObservedNetns = { name: null, links: [], routes: [], sysctls: {} };

const link = (ns: ObservedNetns | undefined, name: string): ObservedLink | undefined => ns?.links.find((l) => l.ifname === name);
const routeDst = (dst: string) => (dst.endsWith('/32') ? dst.slice(0, -3) : dst);
const hasRoute = (ns: ObservedNetns | undefined, r: ObservedRoute) =>
  !!ns?.routes.some((o) => o.dst === routeDst(r.dst) && (o.gateway ?? '') === (r.gateway ?? '') && (o.dev ?? '') === (r.dev ?? ''));

export function planNetwork(desired: HostNetwork, observed: ObservedHost, policyFor: PolicyFor): NetStep[] {
  const steps: NetStep[] = [];
  const hostId = desired.hostId;
  const hostNs = observed.host ?? EMPTY;
  const wantedNs = new Set<string>();
  const wantedRouterVeths = new Map<string, string>(); // `<router netns>/<veth>` → group id
  for (const v of desired.vpcs) {
    wantedNs.add(v.netns);
    for (const i of v.instances) {
      wantedNs.add(i.netns);
      wantedRouterVeths.set(`${v.netns}/${i.routerVeth}`, i.groupId);
    }
  }
  const instancePrefix = `${desired.prefix}eci-`;
  const routerPrefix = `${desired.prefix}vpcr-`;
  const instanceAlias = linkAlias(hostId, 'instance:');
  const uplinkAlias = linkAlias(hostId, 'uplink:');

  // ---- leftovers: instance veths in routers, routers' links, then every stale netns in one batch ----
  // Links are deleted explicitly (synchronous, and a veth takes its peer with it) before namespaces
  // are unmounted, because the kernel tears a namespace's devices down asynchronously.
  const staleNetns: string[] = [];
  const peersHandled = new Set<string>(); // instance netns whose router-side veth is deleted here
  const routers = [...observed.netns].filter(([n]) => n.startsWith(routerPrefix)).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [name, ns] of routers) {
    const wanted = wantedNs.has(name);
    const stale = ns.links.filter((l) => l.ifname !== 'lo' && (!wanted || (l.alias.startsWith(instanceAlias) && !wantedRouterVeths.has(`${name}/${l.ifname}`))));
    for (const l of stale) if (l.alias.startsWith(instanceAlias)) peersHandled.add(instanceNetnsName(hostId, l.alias.slice(instanceAlias.length)));
    if (stale.length)
      steps.push({
        unit: `leftover:${name}`,
        what: wanted ? `delete stale instance veths ${stale.map((l) => l.ifname).join(', ')}` : `delete links of ${name}`,
        op: { type: 'ip', netns: name, lines: stale.map((l) => `link del ${l.ifname}`), bestEffort: true },
      });
    if (!wanted) staleNetns.push(name);
  }
  for (const [name, ns] of [...observed.netns].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!name.startsWith(instancePrefix) || wantedNs.has(name)) continue;
    if (!peersHandled.has(name) && ns.links.some((l) => l.ifname === 'eth0'))
      steps.push({ unit: `leftover:${name}`, what: `delete veth of ${name}`, op: { type: 'ip', netns: name, lines: ['link del eth0'], bestEffort: true } });
    staleNetns.push(name);
  }
  staleNetns.sort();
  if (staleNetns.length)
    steps.push({ unit: 'leftover:netns', what: `delete netns ${staleNetns.join(', ')}`, op: { type: 'ip', netns: null, lines: staleNetns.map((n) => `netns del ${n}`), bestEffort: true } });
  const wantedUplinks = new Map(desired.vpcs.map((v) => [v.uplink.hostSide, v]));
  const staleHost = hostNs.links.filter((l) => l.alias.startsWith(uplinkAlias) && !wantedUplinks.has(l.ifname));
  if (staleHost.length)
    steps.push({ unit: 'host', what: `delete stale uplinks ${staleHost.map((l) => l.ifname).join(', ')}`, op: { type: 'ip', netns: desired.hostNetns, lines: staleHost.map((l) => `link del ${l.ifname}`), bestEffort: true } });
  // Public routes over our uplinks that are no longer desired.
  const staleRoutes: string[] = [];
  for (const r of hostNs.routes) {
    const vpc = r.dev ? wantedUplinks.get(r.dev) : undefined;
    if (!vpc || !r.gateway) continue;
    const dst = routeDst(r.dst);
    if (!vpc.publicIps.includes(dst) || r.gateway !== vpc.uplink.routerIp) staleRoutes.push(`route del ${dst}/32 via ${r.gateway} dev ${r.dev}`);
  }
  if (staleRoutes.length) steps.push({ unit: 'host', what: 'delete stale public routes', op: { type: 'ip', netns: desired.hostNetns, lines: staleRoutes, bestEffort: true } });

  // ---- desired VPC routers and their instances ----
  for (const vpc of desired.vpcs) {
    const unit = `vpc:${vpc.vpcId}`;
    const routerObs = observed.netns.get(vpc.netns);
    const router = routerObs ?? { ...EMPTY, name: vpc.netns };
    if (!routerObs) steps.push({ unit, what: `create netns ${vpc.netns}`, op: { type: 'netnsAdd', name: vpc.netns }, undo: { type: 'netnsDel', name: vpc.netns } });

    const u = vpc.uplink;
    const hostSide = link(hostNs, u.hostSide);
    const routerSide = link(router, u.routerSide);
    if (!hostSide || !routerSide) {
      if (hostSide) steps.push({ unit, what: `delete half uplink ${u.hostSide}`, op: { type: 'ip', netns: desired.hostNetns, lines: [`link del ${u.hostSide}`], bestEffort: true } });
      if (routerSide) steps.push({ unit, what: `delete half uplink ${u.routerSide}`, op: { type: 'ip', netns: vpc.netns, lines: [`link del ${u.routerSide}`], bestEffort: true } });
      steps.push({
        unit,
        what: `create uplink ${u.hostSide}/${u.routerSide}`,
        op: { type: 'ip', netns: desired.hostNetns, lines: uplinkCreateLines(desired, vpc) },
        undo: { type: 'ip', netns: desired.hostNetns, lines: [`link del ${u.hostSide}`], bestEffort: true },
      });
    }
    const hostOk = hostSide && routerSide && hostSide.up && hostSide.addrs.length === 1 && hostSide.addrs[0] === `${u.hostIp}/30`;
    if (!hostOk) {
      const flush = hostSide && routerSide && hostSide.addrs.some((a) => a !== `${u.hostIp}/30`) ? [`addr flush dev ${u.hostSide}`] : [];
      steps.push({ unit, what: `address host side of uplink ${u.hostSide}`, op: { type: 'ip', netns: desired.hostNetns, lines: [...flush, ...uplinkHostLines(vpc)] } });
    }
    const routerOk =
      !!routerSide &&
      !!hostSide &&
      !!link(router, 'lo')?.up &&
      routerSide.up &&
      routerSide.addrs.length === 1 &&
      routerSide.addrs[0] === `${u.routerIp}/30` &&
      hasRoute(router, { dst: 'default', gateway: u.hostIp, dev: u.routerSide });
    if (!routerOk) {
      const flush = routerSide && hostSide && routerSide.addrs.some((a) => a !== `${u.routerIp}/30`) ? [`addr flush dev ${u.routerSide}`] : [];
      steps.push({ unit, what: `address router side of uplink ${u.routerSide}`, op: { type: 'ip', netns: vpc.netns, lines: [...flush, ...uplinkRouterLines(vpc)] } });
    }
    if (router.sysctls['ip_forward'] !== '1')
      steps.push({ unit, what: `enable forwarding in ${vpc.netns}`, op: { type: 'sysctl', netns: vpc.netns, values: { 'net.ipv4.ip_forward': '1' } } });

    // nft: full render or element delta.
    const policy = policyFor(vpc);
    const nft = routerObs?.nft;
    const names = nftObjectNames(vpc, policy);
    const sgHave = nft && policy.sg ? observedSgPlan(nft, policy.sg) : undefined;
    const full =
      !nft || nft.fingerprint !== `fp:${nftFingerprint(vpc, policy)}` || names.some((n) => !nft.objects.includes(n)) || (!!policy.sg && !sgHave);
    if (full) steps.push({ unit, what: `load nft table inet eci in ${vpc.netns}`, op: { type: 'nft', netns: vpc.netns, script: renderNftTable(vpc, policy) } });
    else {
      const want = desiredElements(vpc, policy);
      const add: Record<string, Map<string, string>> = {};
      const remove: Record<string, string[]> = {};
      for (const m of elementMapNames(policy)) {
        const have = nft.elements[m] ?? new Map<string, string>();
        const a = new Map<string, string>();
        const r: string[] = [];
        for (const [k, v] of want[m]) if (have.get(k) !== v) (have.has(k) ? (r.push(k), a.set(k, v)) : a.set(k, v));
        for (const k of have.keys()) if (!want[m].has(k)) r.push(k);
        if (a.size) add[m] = a;
        if (r.length) remove[m] = r;
      }
      const elementScript = renderElementDelta(add, remove);
      const sgScript = policy.sg && sgHave ? renderSgDelta(sgHave, policy.sg, `inet ${NFT_TABLE}`) : '';
      // One nft invocation, one transaction: the element delta and the security-group delta together.
      const what = [elementScript && 'elements', sgScript && 'security groups'].filter(Boolean).join(' and ');
      if (what)
        steps.push({
          unit,
          what: `update nft ${what} in ${vpc.netns}`,
          op: { type: 'nft', netns: vpc.netns, script: elementScript + sgScript },
          ...(sgScript ? { fallback: { type: 'nft' as const, netns: vpc.netns, script: renderNftTable(vpc, policy) } } : {}),
        });
    }

    // Public routes on the host.
    const routeLines = vpc.publicIps
      .filter((ip) => !hasRoute(hostNs, { dst: ip, gateway: u.routerIp, dev: u.hostSide }) || !hostOk)
      .map((ip) => publicRouteLine(vpc, ip));
    if (routeLines.length) steps.push({ unit, what: `route public IPs of ${vpc.vpcId}`, op: { type: 'ip', netns: desired.hostNetns, lines: routeLines } });

    for (const inst of vpc.instances) steps.push(...planInstance(desired, vpc, router, observed.netns.get(inst.netns), inst));
  }
  return steps;
}

function planInstance(desired: HostNetwork, vpc: VpcNet, router: ObservedNetns, instObs: ObservedNetns | undefined, inst: InstanceNet): NetStep[] {
  const unit = `instance:${inst.groupId}`;
  const steps: NetStep[] = [];
  const ns = instObs ?? { ...EMPTY, name: inst.netns };
  if (!instObs) steps.push({ unit, what: `create netns ${inst.netns}`, op: { type: 'netnsAdd', name: inst.netns }, undo: { type: 'netnsDel', name: inst.netns } });
  const rv = link(router, inst.routerVeth);
  const eth0 = link(ns, 'eth0');
  const paired = !!rv && !!eth0;
  if (!paired) {
    if (rv) steps.push({ unit, what: `delete half veth ${inst.routerVeth}`, op: { type: 'ip', netns: vpc.netns, lines: [`link del ${inst.routerVeth}`], bestEffort: true } });
    if (eth0) steps.push({ unit, what: `delete half veth eth0 of ${inst.netns}`, op: { type: 'ip', netns: inst.netns, lines: ['link del eth0'], bestEffort: true } });
    steps.push({
      unit,
      what: `create veth ${inst.routerVeth}/eth0`,
      op: { type: 'ip', netns: vpc.netns, lines: instanceCreateLines(desired, inst) },
      undo: { type: 'ip', netns: vpc.netns, lines: [`link del ${inst.routerVeth}`], bestEffort: true },
    });
  }
  // proxy_delay 0: proxy ARP answers broadcast requests after a random delay of up to 0.8 s by
  // default, which an instance's first packet would pay.
  if (!paired || router.sysctls[`conf/${inst.routerVeth}/proxy_arp`] !== '1' || router.sysctls[`neigh/${inst.routerVeth}/proxy_delay`] !== '0')
    steps.push({
      unit,
      what: `proxy ARP on ${inst.routerVeth}`,
      op: { type: 'sysctl', netns: vpc.netns, values: { [`net.ipv4.conf.${inst.routerVeth}.proxy_arp`]: '1', [`net.ipv4.neigh.${inst.routerVeth}.proxy_delay`]: '0' } },
    });
  const instOk =
    paired &&
    !!link(ns, 'lo')?.up &&
    eth0.up &&
    eth0.addrs.length === 1 &&
    eth0.addrs[0] === `${inst.ip}/32` &&
    hasRoute(ns, { dst: inst.gateway, dev: 'eth0' }) &&
    hasRoute(ns, { dst: 'default', gateway: inst.gateway, dev: 'eth0' });
  if (!instOk) {
    const flush = paired && eth0.addrs.some((a) => a !== `${inst.ip}/32`) ? ['addr flush dev eth0'] : [];
    steps.push({ unit, what: `address ${inst.ip} in ${inst.netns}`, op: { type: 'ip', netns: inst.netns, lines: [...flush, ...instanceNetnsLines(inst)] } });
  }
  // The router side comes up and routes to the instance only once the instance side is configured:
  // a packet routed into a veth whose peer is still down leaves an incomplete neighbour entry that
  // waits out the 1 s ARP retransmit (measured by bench/agent.ts), delaying the first answer.
  if (!paired || !rv.up || !hasRoute(router, { dst: inst.ip, dev: inst.routerVeth }))
    steps.push({ unit, what: `route ${inst.ip} to ${inst.routerVeth}`, op: { type: 'ip', netns: vpc.netns, lines: instanceRouterLines(inst) } });
  return steps;
}

const SG_SET = /^sgm_/;
const SG_CHAIN = /^sg[ie]_/;

/** A vmap value as observe.ts renders it (`{"jump":{"target":"sgi_…"}}`) → the chain, or undefined. */
function jumpTarget(v: string): string | undefined {
  try {
    const t = (JSON.parse(v) as { jump?: { target?: unknown } }).jump?.target;
    return typeof t === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}

const unquote = (k: string) => (k.length >= 2 && k.startsWith('"') && k.endsWith('"') ? k.slice(1, -1) : k);

/**
 * The security-group state the kernel holds, as an SgPlan renderSgDelta can start from: member sets
 * and vmaps as listed; a chain's statements are `want`'s when its content mark and rule count match
 * (they are identical), otherwise a placeholder that differs from any desired list (so it is flushed and
 * refilled, or deleted). Undefined when the state cannot be expressed that way (the caller reloads).
 */
function observedSgPlan(nft: ObservedNft, want: SgPlan): SgPlan | undefined {
  const sets = new Map<string, string[]>();
  const chains = new Map<string, readonly string[]>();
  for (const name of nft.objects) {
    if (SG_SET.test(name)) sets.set(name, [...(nft.elements[name]?.keys() ?? [])]);
    else if (SG_CHAIN.test(name)) {
      const rules = want.chains.get(name);
      const mark = nft.marks?.[name] ?? '';
      // The mark sits on the last rule; the count catches rules deleted before it.
      const same = !!rules && !!mark && sgChainMark(rules) === mark && nft.ruleCounts?.[name] === rules.length;
      chains.set(name, same ? rules : ['# unknown content']);
    }
  }
  const vmap = (name: string): Map<string, string> | undefined => {
    const out = new Map<string, string>();
    for (const [k, v] of nft.elements[name] ?? []) {
      const target = jumpTarget(v);
      if (!target) return undefined;
      out.set(unquote(k), target);
    }
    return out;
  };
  const ingress = vmap(SG_INGRESS_MAP);
  const egress = vmap(SG_EGRESS_MAP);
  if (!ingress || !egress) return undefined;
  // renderSgDelta derives the ports set's changes from the ingress map.
  const ports = new Set([...(nft.elements[SG_PORTS_SET]?.keys() ?? [])].map(unquote));
  if (ports.size !== ingress.size || [...ingress.keys()].some((k) => !ports.has(k))) return undefined;
  // A vmap element jumping to a chain that is gone cannot exist; a chain the kernel lacks but a
  // vmap names means the listing raced a change: reload.
  for (const t of [...ingress.values(), ...egress.values()]) if (!chains.has(t)) return undefined;
  return { sets, chains, ingress, egress };
}
