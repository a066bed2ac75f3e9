// Security groups compiled to nftables, pure: the members of one VPC router and their groups in, nft
// text out. ECS semantics (see src/core/security-group.ts for the rule shape):
// - Ingress rules filter traffic arriving at a member (oifname = its router-side veth), egress rules
//   traffic leaving it (iifname = its veth). The firewall is stateful: the renderer accepts
//   `ct state established,related` before these statements, so rules decide new flows only.
// - The rules of all of an instance's groups (up to 5) are merged and ordered by priority (1 first);
//   at equal priority Drop comes first, so "the smallest matching priority decides, Drop wins a tie"
//   is plain chain order.
// - No match: ingress is dropped; egress is accepted for basic groups and dropped when every group of
//   the instance is enterprise (the reference: "Enterprise security groups deny both inbound and
//   outbound traffic by default").
// - Inner access: members of one basic group reach each other whatever the rules say (the reference:
//   the Accept inner policy "takes precedence over user-created security group rules"); enterprise
//   groups isolate their members, and only rules open them.
//
// Kernel shape, keyed by interface and by group rather than one rule per instance:
// - `set sgm_<group>`: the private addresses of a group's members. A rule naming a group as peer, and
//   the inner-access check, look the address up there, so membership changes are element updates.
// - One chain per distinct combination of groups ("group set"), `sgi_<hash>` / `sge_<hash>`, holding
//   the merged, ordered rules of that combination. Instances with the same groups share the chains.
// - `map sg_in` / `map sg_out` (ifname → jump chain) pick the chains; `set sg_ports` lists the members'
//   interfaces. Adding an instance whose group combination exists is three elements plus its address.
// - Egress chains say `return` for "allowed" (the packet still has to pass the receiver's ingress when
//   the receiver is a member too) and `drop`; ingress chains end every path in accept or drop.
//
// A change (rules, membership, an instance coming or going) is applied by renderSgDelta: one `nft -f`
// transaction that flushes and refills only the chains whose text changed and updates elements, so a
// rule change reaches live traffic as soon as that command returns.

import { createHash } from 'node:crypto';
import { formatIp, parseIp } from '../../core/cidr.ts';
import type { SecurityGroupData, SecurityGroupRule } from '../../core/model.ts';
import { cidrOf, innerAccessPolicy, portRangeOf } from '../../core/security-group.ts';

export interface SgMember {
  /** The router-side veth of the instance. */
  readonly ifname: string;
  /** Its private IPv4 address. */
  readonly ip: string;
  /** Its groups, at most 5, all of one type (as the reference requires). */
  readonly securityGroupIds: readonly string[];
}

export interface SgCompileInput {
  /** Every instance behind this router. A group peer means the members listed here. */
  readonly members: readonly SgMember[];
  /** The groups the members (and their rules' peers) name; rules as stored (normalised). */
  readonly groups: readonly SecurityGroupData[];
}

/** What the kernel should hold, as data: renderers and the delta both read this. */
export interface SgPlan {
  /** Member-address set name → addresses (sorted). */
  readonly sets: ReadonlyMap<string, readonly string[]>;
  /** Chain name → its rule statements, in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Router-side ifname → ingress chain. */
  readonly ingress: ReadonlyMap<string, string>;
  /** Router-side ifname → egress chain. */
  readonly egress: ReadonlyMap<string, string>;
}

export const SG_INGRESS_MAP = 'sg_in';
export const SG_EGRESS_MAP = 'sg_out';
export const SG_PORTS_SET = 'sg_ports';

/** The set holding a group's member addresses. Group ids are `sg-<alnum>`; anything else becomes `_`. */
export function memberSetName(groupId: string): string {
  return `sgm_${groupId.replace(/^sg-/, '').replace(/[^A-Za-z0-9]/g, '_')}`;
}

/** The key of a combination of groups: the sorted, distinct ids. */
function groupSetKey(ids: readonly string[]): string {
  return [...new Set(ids)].sort().join(',');
}

function chainHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 10);
}

export const ingressChainName = (groupIds: readonly string[]): string => `sgi_${chainHash(groupSetKey(groupIds))}`;
export const egressChainName = (groupIds: readonly string[]): string => `sge_${chainHash(groupSetKey(groupIds))}`;

/** An address match for a CIDR field; '' when it matches every IPv4 address. Host bits are cleared. */
function addressMatch(key: 'ip saddr' | 'ip daddr', text: string): string {
  const c = cidrOf(text);
  if (!c) throw new Error(`security group rule carries an unreadable CIDR "${text}"`);
  if (c.prefix === 0) return '';
  return c.prefix === 32 ? `${key} ${formatIp(c.network)}` : `${key} ${formatIp(c.network)}/${c.prefix}`;
}

function portMatch(proto: 'tcp' | 'udp', field: 'dport' | 'sport', text: string): string {
  const r = portRangeOf(text);
  if (!r) return '';
  return r.from === r.to ? `${proto} ${field} ${r.from}` : `${proto} ${field} ${r.from}-${r.to}`;
}

/**
 * The nft statement of one rule in one direction. `allow` is what an Accept rule does there (`accept`
 * in ingress chains, `return` in egress chains).
 */
export function ruleStatement(r: SecurityGroupRule, allow: 'accept' | 'return'): string {
  const ingress = r.Direction === 'ingress';
  const peerKey = ingress ? 'ip saddr' : 'ip daddr';
  const localKey = ingress ? 'ip daddr' : 'ip saddr';
  const parts: string[] = [];
  const peerGroup = ingress ? r.SourceGroupId : r.DestGroupId;
  const peerCidr = ingress ? r.SourceCidrIp : r.DestCidrIp;
  const localCidr = ingress ? r.DestCidrIp : r.SourceCidrIp;
  if (peerGroup) parts.push(`${peerKey} @${memberSetName(peerGroup)}`);
  else if (peerCidr) parts.push(addressMatch(peerKey, peerCidr));
  if (localCidr) parts.push(addressMatch(localKey, localCidr));
  const proto = r.IpProtocol.toUpperCase();
  if (proto === 'TCP' || proto === 'UDP') {
    const l4 = proto === 'TCP' ? 'tcp' : 'udp';
    const dport = portMatch(l4, 'dport', r.PortRange);
    const sport = portMatch(l4, 'sport', r.SourcePortRange);
    // A port match implies the protocol; a rule with neither (not produced by normalizeRule) still must.
    if (!dport && !sport) parts.push(`meta l4proto ${l4}`);
    parts.push(dport, sport);
  } else if (proto === 'ICMP') parts.push('meta l4proto icmp');
  else if (proto === 'GRE') parts.push('meta l4proto gre');
  const match = parts.filter(Boolean);
  // Rules are IPv4 (0.0.0.0/0 means every IPv4 address); an `ip …` match implies that, else say it.
  if (!match.some((m) => m.startsWith('ip '))) match.unshift('meta nfproto ipv4');
  const verdict = r.Policy === 'Drop' ? 'drop' : allow;
  const comment = r.SecurityGroupRuleId ? ` comment "${r.SecurityGroupRuleId.replace(/[^A-Za-z0-9_.-]/g, '')}"` : '';
  return `${match.join(' ')} ${verdict}${comment}`;
}

/**
 * The merged rules of a group set in one direction, in evaluation order: priority ascending, Drop
 * before Accept at equal priority, then group order (sorted ids) and rule order (stable sort).
 */
export function orderedRules(groups: readonly SecurityGroupData[], direction: 'ingress' | 'egress'): SecurityGroupRule[] {
  const all = [...groups]
    .sort((a, b) => (a.SecurityGroupId < b.SecurityGroupId ? -1 : a.SecurityGroupId > b.SecurityGroupId ? 1 : 0))
    .flatMap((g) => g.Permissions.filter((r) => r.Direction === direction));
  return all.sort((a, b) => a.Priority - b.Priority || (a.Policy === b.Policy ? 0 : a.Policy === 'Drop' ? -1 : 1));
}

function groupChains(ids: readonly string[], byId: ReadonlyMap<string, SecurityGroupData>): { ingress: string[]; egress: string[]; sets: string[] } {
  const groups = [...new Set(ids)].map((id) => byId.get(id)).filter((g): g is SecurityGroupData => g !== undefined);
  const sets = new Set<string>();
  const inner = groups.filter((g) => innerAccessPolicy(g.SecurityGroupType) === 'Accept').map((g) => memberSetName(g.SecurityGroupId));
  const ingress: string[] = [];
  const egress: string[] = [];
  for (const s of inner) {
    sets.add(s);
    ingress.push(`ip saddr @${s} accept comment "inner"`);
    egress.push(`ip daddr @${s} return comment "inner"`);
  }
  for (const r of orderedRules(groups, 'ingress')) {
    if (r.SourceGroupId) sets.add(memberSetName(r.SourceGroupId));
    ingress.push(ruleStatement(r, 'accept'));
  }
  for (const r of orderedRules(groups, 'egress')) {
    if (r.DestGroupId) sets.add(memberSetName(r.DestGroupId));
    egress.push(ruleStatement(r, 'return'));
  }
  ingress.push('drop');
  // Unknown ids carry no rules; egress closes only when every known group is enterprise.
  const allEnterprise = groups.length > 0 && groups.every((g) => g.SecurityGroupType === 'enterprise');
  egress.push(allEnterprise ? 'drop' : 'return');
  return { ingress, egress, sets: [...sets] };
}

const byAddress = (a: string, b: string): number => (parseIp(a) ?? 0) - (parseIp(b) ?? 0);

/** The desired kernel state for `input`. Pure and deterministic (same input, same plan). */
export function planSecurityGroups(input: SgCompileInput): SgPlan {
  const byId = new Map(input.groups.map((g) => [g.SecurityGroupId, g]));
  const chains = new Map<string, string[]>();
  const setNames = new Set<string>();
  const ingress = new Map<string, string>();
  const egress = new Map<string, string>();
  const done = new Set<string>();
  for (const m of input.members) {
    const inName = ingressChainName(m.securityGroupIds);
    const outName = egressChainName(m.securityGroupIds);
    if (!done.has(inName)) {
      done.add(inName);
      const c = groupChains(m.securityGroupIds, byId);
      chains.set(inName, c.ingress);
      chains.set(outName, c.egress);
      for (const s of c.sets) setNames.add(s);
    }
    ingress.set(m.ifname, inName);
    egress.set(m.ifname, outName);
  }
  const sets = new Map<string, string[]>();
  for (const name of [...setNames].sort()) sets.set(name, []);
  for (const m of input.members) {
    for (const id of new Set(m.securityGroupIds)) sets.get(memberSetName(id))?.push(m.ip);
  }
  for (const [name, ips] of sets) sets.set(name, [...new Set(ips)].sort(byAddress));
  return { sets, chains: new Map([...chains].sort(([a], [b]) => (a < b ? -1 : 1))), ingress, egress };
}

const quote = (ifname: string): string => `"${ifname}"`;
const sortedKeys = (m: ReadonlyMap<string, unknown>): string[] => [...m.keys()].sort();

/**
 * Declarations for inside `table inet eci { … }`: the member sets, the group-set chains, then the
 * interface maps (which name the chains). Splice them before the chain that holds `forwardRules`.
 */
export function renderSgPlan(plan: SgPlan): { chains: string; forwardRules: string } {
  const out: string[] = [];
  for (const [name, ips] of plan.sets) {
    out.push(`set ${name} { type ipv4_addr;${ips.length ? ` elements = { ${ips.join(', ')} };` : ''} }`);
  }
  for (const [name, rules] of plan.chains) {
    out.push(`chain ${name} {`, ...rules.map((r) => `  ${r}`), '}');
  }
  const vmap = (name: string, m: ReadonlyMap<string, string>) => {
    const els = sortedKeys(m).map((k) => `${quote(k)} : jump ${m.get(k)}`);
    out.push(`map ${name} { type ifname : verdict;${els.length ? ` elements = { ${els.join(', ')} };` : ''} }`);
  };
  vmap(SG_INGRESS_MAP, plan.ingress);
  vmap(SG_EGRESS_MAP, plan.egress);
  const ports = sortedKeys(plan.ingress).map(quote);
  out.push(`set ${SG_PORTS_SET} { type ifname;${ports.length ? ` elements = { ${ports.join(', ')} };` : ''} }`);
  return { chains: out.join('\n') + '\n', forwardRules: renderSgForwardRules() };
}

/**
 * The statements of the forward (`guard`) chain, after `ct state established,related accept`:
 * the sender's egress chain (drops, or returns when allowed), then the receiver's ingress chain (ends
 * in accept or drop), then traffic from a member to a non-member (the uplink) that passed egress is
 * accepted. Traffic between two non-members falls through to what follows (the chain's drop policy).
 * Anything the renderer must refuse regardless of groups goes before these statements.
 */
export function renderSgForwardRules(): string {
  return [`iifname vmap @${SG_EGRESS_MAP}`, `oifname vmap @${SG_INGRESS_MAP}`, `iifname @${SG_PORTS_SET} accept`].join('\n') + '\n';
}

/** compileSecurityGroups = renderSgPlan ∘ planSecurityGroups. */
export function compileSecurityGroups(input: SgCompileInput): { chains: string; forwardRules: string } {
  return renderSgPlan(planSecurityGroups(input));
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * One `nft -f` script (a single transaction) taking a table that holds `renderSgPlan(prev)` to
 * `renderSgPlan(next)`: new sets and chains are added, a chain whose statements changed is flushed
 * and refilled, set and map elements are added and deleted one by one, and what is gone is removed
 * after nothing refers to it. Returns '' when nothing changed. `table` is `<family> <name>`.
 * `prev` must be what the kernel holds (the plan of the last successful apply): deleting an element
 * or chain that is not there fails the whole transaction, and then the caller reloads in full.
 */
export function renderSgDelta(prev: SgPlan, next: SgPlan, table = 'inet eci'): string {
  const out: string[] = [];
  // 1. Sets: new ones, then element changes.
  for (const [name, ips] of next.sets) {
    const before = prev.sets.get(name);
    if (!before) out.push(`add set ${table} ${name} { type ipv4_addr; }`);
    const had = new Set(before ?? []);
    const has = new Set(ips);
    const add = ips.filter((ip) => !had.has(ip));
    const del = (before ?? []).filter((ip) => !has.has(ip));
    if (add.length) out.push(`add element ${table} ${name} { ${add.join(', ')} }`);
    if (del.length) out.push(`delete element ${table} ${name} { ${del.join(', ')} }`);
  }
  // 2. Chains: declare the new, refill the new and the changed.
  for (const [name, rules] of next.chains) {
    const before = prev.chains.get(name);
    if (sameList(before, rules)) continue;
    if (!before) out.push(`add chain ${table} ${name}`);
    else out.push(`flush chain ${table} ${name}`);
    for (const r of rules) out.push(`add rule ${table} ${name} ${r}`);
  }
  // 3. Interface maps and the ports set.
  const mapDelta = (name: string, a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) => {
    const del = sortedKeys(a).filter((k) => a.get(k) !== b.get(k));
    const add = sortedKeys(b).filter((k) => a.get(k) !== b.get(k));
    if (del.length) out.push(`delete element ${table} ${name} { ${del.map(quote).join(', ')} }`);
    if (add.length) out.push(`add element ${table} ${name} { ${add.map((k) => `${quote(k)} : jump ${b.get(k)}`).join(', ')} }`);
  };
  mapDelta(SG_INGRESS_MAP, prev.ingress, next.ingress);
  mapDelta(SG_EGRESS_MAP, prev.egress, next.egress);
  const portsAdd = sortedKeys(next.ingress).filter((k) => !prev.ingress.has(k));
  const portsDel = sortedKeys(prev.ingress).filter((k) => !next.ingress.has(k));
  if (portsAdd.length) out.push(`add element ${table} ${SG_PORTS_SET} { ${portsAdd.map(quote).join(', ')} }`);
  if (portsDel.length) out.push(`delete element ${table} ${SG_PORTS_SET} { ${portsDel.map(quote).join(', ')} }`);
  // 4. What is gone, now that no map element jumps to it and no rule names it.
  for (const name of prev.chains.keys()) {
    if (!next.chains.has(name)) out.push(`flush chain ${table} ${name}`);
  }
  for (const name of prev.chains.keys()) {
    if (!next.chains.has(name)) out.push(`delete chain ${table} ${name}`);
  }
  for (const name of prev.sets.keys()) {
    if (!next.sets.has(name)) out.push(`delete set ${table} ${name}`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** The prefix of the content mark `markSgChains` puts on a chain's last statement. */
export const SG_MARK_PREFIX = 'sg:';

/**
 * `plan` with each chain's last statement carrying `comment "sg:<hash of the chain's statements>"`,
 * so an observer of the kernel (`nft -j`, which does not print rules back as text) can tell whether a
 * chain holds exactly these statements. The last statement of a compiled chain is its bare terminal
 * verdict (`drop` / `return`), so the comment changes no behaviour; a chain whose last statement
 * already has a comment gets a trailing no-op `counter` rule carrying the mark.
 */
export function markSgChains(plan: SgPlan): SgPlan {
  const chains = new Map<string, string[]>();
  for (const [name, rules] of plan.chains) {
    const mark = `${SG_MARK_PREFIX}${createHash('sha256').update(rules.join('\n')).digest('hex').slice(0, 16)}`;
    const last = rules.at(-1);
    chains.set(name, last === undefined || / comment "/.test(last) ? [...rules, `counter comment "${mark}"`] : [...rules.slice(0, -1), `${last} comment "${mark}"`]);
  }
  return { ...plan, chains };
}

/** The content mark of a marked chain's statements (see markSgChains), or ''. */
export function sgChainMark(rules: readonly string[]): string {
  return new RegExp(` comment "(${SG_MARK_PREFIX}[0-9a-f]+)"$`).exec(rules.at(-1) ?? '')?.[1] ?? '';
}
