// Security group rules with ECS semantics, pure: wire input → one normalised rule, the identity two rules
// share when they are "the same rule", and the plans of Authorize and Revoke. Store lookups (does a
// peer group exist, is it in the same VPC) are the API layer's (src/api/resources/security-group.ts).
//
// What the data plane reads from a stored rule (SecurityGroupRule in model.ts):
// - Direction: ingress (traffic into the group's instances) or egress.
// - IpProtocol: TCP | UDP | ICMP | GRE | ALL; PortRange `from/to` with 1 ≤ from ≤ to ≤ 65535 for TCP/UDP,
//   always `-1/-1` otherwise (see portRangeOf).
// - The peer: SourceCidrIp or SourceGroupId for ingress, DestCidrIp or DestGroupId for egress (exactly one
//   is non-empty; a group peer means "the private addresses of that group's instances").
// - The local side, optional ("quintuple" rules): DestCidrIp for ingress, SourceCidrIp for egress, and
//   SourcePortRange ('' = any).
// - Policy Accept | Drop and Priority 1..100: the smallest priority that matches decides, and at equal
//   priority Drop wins. Traffic between members of one group follows innerAccessPolicy (below).
// CIDR fields keep the text the client sent (a bare address means /32, host bits may be set); use
// cidrOf to read them.

import { formatCidr, parseCidr, parseIp, type Cidr } from './cidr.ts';
import { forbidden, invalid, notFound } from './errors.ts';
import type { SecurityGroupData, SecurityGroupRule, SgDirection } from './model.ts';

export const SG_PROTOCOLS = ['TCP', 'UDP', 'ICMP', 'GRE', 'ALL'] as const;
export type SgProtocol = (typeof SG_PROTOCOLS)[number];

/** Protocols whose rules carry ports; the others take only `-1/-1`. */
const PORTED: ReadonlySet<string> = new Set(['TCP', 'UDP']);

export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 100;
export const DEFAULT_PRIORITY = 1;
/** Rules of one basic group that may name another group as peer (the reference's limit). */
export const MAX_GROUP_PEER_RULES = 20;

/** One rule as it arrives (a Permissions.N entry, or the deprecated flat parameters): every value a string. */
export interface RuleInput {
  IpProtocol?: string;
  PortRange?: string;
  SourcePortRange?: string;
  SourceCidrIp?: string;
  DestCidrIp?: string;
  SourceGroupId?: string;
  DestGroupId?: string;
  Policy?: string;
  Priority?: string;
  NicType?: string;
  Description?: string;
  Ipv6SourceCidrIp?: string;
  Ipv6DestCidrIp?: string;
  SourcePrefixListId?: string;
  DestPrefixListId?: string;
  PortRangeListId?: string;
}

/** A normalised rule before it gets an id and a creation time. */
export type RuleSpec = Omit<SecurityGroupRule, 'SecurityGroupRuleId' | 'CreateTime'>;

export interface NormalizeOptions {
  /** Where the rule came from, for messages: `Permissions.2`, or '' for the flat parameters. */
  readonly where?: string;
  /** The type of the group the rule goes into; enterprise groups refuse Drop and group peers. */
  readonly groupType?: SecurityGroupData['SecurityGroupType'];
}

const blank = (v: string | undefined): v is undefined => v === undefined || v.trim() === '';

function fieldName(where: string, name: string): string {
  return where ? `${where}.${name}` : name;
}

/** A CIDR field's value: an IPv4 address (meaning /32) or `a.b.c.d/len`; host bits are allowed. */
export function cidrOf(text: string): Cidr | undefined {
  const t = text.trim();
  if (!t.includes('/')) {
    const ip = parseIp(t);
    return ip === undefined ? undefined : { network: ip, prefix: 32 };
  }
  return parseCidr(t, false);
}

/** A port range field: undefined when it means "any port" (`-1/-1`, or '' for SourcePortRange). */
export function portRangeOf(text: string): { from: number; to: number } | undefined {
  const m = /^(-?\d+)\/(-?\d+)$/.exec(text.trim());
  if (!m || m[1] === '-1') return undefined;
  return { from: Number(m[1]), to: Number(m[2]) };
}

/** Traffic between two members of one group: basic groups let it through, enterprise groups do not. */
export function innerAccessPolicy(type: SecurityGroupData['SecurityGroupType']): 'Accept' | 'Drop' {
  return type === 'enterprise' ? 'Drop' : 'Accept';
}

function normalizeProtocol(input: RuleInput, where: string): SgProtocol {
  const raw = input.IpProtocol;
  const name = fieldName(where, 'IpProtocol');
  if (blank(raw)) throw invalid('MissingParameter', `The input parameter "${name}" that is mandatory for processing this request is not supplied.`);
  const hit = SG_PROTOCOLS.find((p) => p === raw.trim().toUpperCase());
  if (!hit)
    throw invalid('InvalidIpProtocol.ValueNotSupported', `The parameter ${name} must be specified with case insensitive TCP, UDP, ICMP, GRE or All; "${raw}" is not supported.`);
  return hit;
}

/**
 * Checks a port range against the protocol. `absent` is what an omitted range means: PortRange is
 * mandatory for TCP/UDP and defaults to -1/-1 otherwise; SourcePortRange defaults to '' (any).
 */
function normalizePorts(protocol: SgProtocol, raw: string | undefined, name: string, source: boolean): string {
  const badRange = (why: string) =>
    source
      ? invalid('InvalidSourcePortRange.Malformed', `The specified parameter ${name} is not valid: ${why}.`)
      : invalid('InvalidPortRange.Malformed', `The specified parameter ${name} is not valid: ${why}.`);
  if (blank(raw)) {
    if (source) return '';
    if (PORTED.has(protocol)) throw invalid('InvalidPortRange.Malformed', `The specified parameter ${name} must set for protocol ${protocol}.`);
    return '-1/-1';
  }
  const text = raw.trim();
  const m = /^(-?\d{1,5})\/(-?\d{1,5})$/.exec(text);
  if (!m) {
    if (source) throw badRange('use two integers separated by a slash, e.g. 1/200');
    throw invalid('InvalidParam.PortRange', `The specified parameter ${name} is not valid. It should be two integers less than 65535 in ?/? format.`);
  }
  const from = Number(m[1]);
  const to = Number(m[2]);
  const any = from === -1 && to === -1;
  if (!PORTED.has(protocol)) {
    if (any) return '-1/-1';
    if (source) throw badRange(`protocol ${protocol} takes only -1/-1`);
    throw invalid('OperationDenied', `The specified IpProtocol does not exist or IpProtocol and PortRange do not match: protocol ${protocol} takes only -1/-1, not "${text}".`);
  }
  if (any) {
    if (source) throw badRange(`protocol ${protocol} takes ports from 1 to 65535`);
    throw invalid('OperationDenied', `The specified IpProtocol does not exist or IpProtocol and PortRange do not match: protocol ${protocol} takes ports from 1 to 65535, not -1/-1.`);
  }
  if (from < 1 || to > 65535 || from > to) throw badRange('ports run from 1 to 65535 and the first may not exceed the second');
  return `${from}/${to}`;
}

function normalizeCidr(raw: string, code: string, name: string): string {
  const text = raw.trim();
  if (!cidrOf(text)) throw invalid(code, `The specified parameter ${name} is not valid: "${raw}" is neither an IPv4 address nor an IPv4 CIDR block.`);
  return text;
}

const unsupported = (name: string, what: string) =>
  invalid('UnsupportedParameter', `The parameter ${name} is not supported by OpenECI: ${what}.`);

/**
 * Normalises one rule as ECS does (case-insensitive protocol and policy, defaults for priority and NIC
 * type), or throws the reference's error for the first field that is wrong. Peer groups are only
 * checked for presence here; whether they exist is for the caller.
 */
export function normalizeRule(direction: SgDirection, input: RuleInput, opts: NormalizeOptions = {}): RuleSpec {
  const where = opts.where ?? '';
  const f = (n: string) => fieldName(where, n);
  const IpProtocol = normalizeProtocol(input, where);
  const PortRange = normalizePorts(IpProtocol, input.PortRange, f('PortRange'), false);
  const SourcePortRange = normalizePorts(IpProtocol, input.SourcePortRange, f('SourcePortRange'), true);
  if (!blank(input.PortRangeListId) && blank(input.PortRange)) throw unsupported(f('PortRangeListId'), 'port range lists do not exist here');

  let Policy: 'Accept' | 'Drop' = 'Accept';
  if (!blank(input.Policy)) {
    const v = input.Policy.trim().toLowerCase();
    if (v !== 'accept' && v !== 'drop') throw invalid('InvalidPolicy.Malformed', `The specified parameter ${f('Policy')} is not valid: use accept or drop.`);
    Policy = v === 'accept' ? 'Accept' : 'Drop';
  }

  let Priority = DEFAULT_PRIORITY;
  if (!blank(input.Priority)) {
    const t = input.Priority.trim();
    const n = Number(t);
    if (!/^\d{1,3}$/.test(t) || n < MIN_PRIORITY || n > MAX_PRIORITY)
      throw invalid('InvalidPriority.Malformed', `The parameter ${f('Priority')} is invalid: use an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}.`);
    Priority = n;
  }

  // Every group here lives in a VPC, where the reference fixes the NIC type to intranet.
  if (!blank(input.NicType) && !['intranet', 'internet'].includes(input.NicType.trim().toLowerCase()))
    throw invalid('InvalidNicType.ValueNotSupported', `The specified ${f('NicType')} "${input.NicType}" does not exist: use intranet.`);

  const Description = input.Description ?? '';
  if (Description.length > 512)
    throw invalid('InvalidSecurityGroupDiscription.Malformed', `The specified security group rule description ${f('Description')} is not valid: at most 512 characters.`);

  // The peer is the far side of the traffic (source of ingress, destination of egress); the local CIDR,
  // when given, narrows which of the group's own addresses the rule covers.
  const ingress = direction === 'ingress';
  const peer = ingress
    ? { cidr: input.SourceCidrIp, v6: input.Ipv6SourceCidrIp, group: input.SourceGroupId, prefixList: input.SourcePrefixListId, side: 'Source' }
    : { cidr: input.DestCidrIp, v6: input.Ipv6DestCidrIp, group: input.DestGroupId, prefixList: input.DestPrefixListId, side: 'Dest' };
  const local = ingress
    ? { cidr: input.DestCidrIp, v6: input.Ipv6DestCidrIp, side: 'Dest' }
    : { cidr: input.SourceCidrIp, v6: input.Ipv6SourceCidrIp, side: 'Source' };

  if (!blank(peer.cidr) && !blank(peer.v6))
    throw invalid(`InvalidParam.${peer.side}Ip`, `The Parameters ${peer.side}CidrIp and Ipv6${peer.side}CidrIp in ${where || 'the request'} cannot be set at the same time.`);
  if (!blank(local.cidr) && !blank(local.v6))
    throw invalid(`InvalidParam.${local.side}Ip`, `The Parameters ${local.side}CidrIp and Ipv6${local.side}CidrIp in ${where || 'the request'} cannot be set at the same time.`);
  if (!blank(local.v6)) throw unsupported(f(`Ipv6${local.side}CidrIp`), 'VPCs here are IPv4 only');

  let peerCidr = '';
  let peerGroup = '';
  // As in the reference, a CIDR wins over a group, and either wins over a prefix list.
  if (!blank(peer.cidr)) peerCidr = normalizeCidr(peer.cidr, `Invalid${peer.side}CidrIp.Malformed`, f(`${peer.side}CidrIp`));
  else if (!blank(peer.v6)) throw unsupported(f(`Ipv6${peer.side}CidrIp`), 'VPCs here are IPv4 only');
  else if (!blank(peer.group)) peerGroup = peer.group.trim();
  else if (!blank(peer.prefixList)) throw unsupported(f(`${peer.side}PrefixListId`), 'prefix lists do not exist here');
  else
    throw invalid(
      `MissingParameter.${peer.side}`,
      `One of the parameters ${peer.side}CidrIp, Ipv6${peer.side}CidrIp, ${peer.side}GroupId or ${peer.side}PrefixListId in ${where || 'the request'} must be specified.`,
    );
  const localCidr = blank(local.cidr) ? '' : normalizeCidr(local.cidr, `Invalid${local.side}CidrIp.Malformed`, f(`${local.side}CidrIp`));
  if (peerCidr && localCidr && peerCidr === localCidr)
    throw invalid('InvalidParamter.Conflict', 'The specified SourceCidrIp should be different from the DestCidrIp.');

  if (opts.groupType === 'enterprise') {
    if (Policy === 'Drop')
      throw invalid('InvalidGroupParameter.OperationDenied', 'The attributes Policy, SourceGroupId, DestGroupId of enterprise level security groups are not allowed to be set or modified: an enterprise group takes only accept rules.');
    if (peerGroup)
      throw invalid('InvalidGroupAuthParameter.OperationDenied', 'The security group can not authorize to enterprise level security group: rules of an enterprise group cannot name a group as peer.');
  }

  return {
    Direction: direction,
    IpProtocol,
    PortRange,
    SourcePortRange,
    SourceCidrIp: ingress ? peerCidr : localCidr,
    DestCidrIp: ingress ? localCidr : peerCidr,
    SourceGroupId: ingress ? peerGroup : '',
    DestGroupId: ingress ? '' : peerGroup,
    Policy,
    Priority,
    NicType: 'intranet',
    Description,
  };
}

function canonicalCidr(text: string): string {
  const c = cidrOf(text);
  return c ? formatCidr(c) : '';
}

/**
 * What makes two rules the same rule: everything that decides which packets match and what happens to
 * them (the description and creation time do not). CIDRs compare by the block they denote.
 */
export function ruleKey(r: RuleSpec): string {
  return [
    r.Direction,
    r.IpProtocol,
    r.PortRange,
    r.SourcePortRange === '-1/-1' ? '' : r.SourcePortRange,
    canonicalCidr(r.SourceCidrIp),
    canonicalCidr(r.DestCidrIp),
    r.SourceGroupId,
    r.DestGroupId,
    r.Policy,
    r.Priority,
    r.NicType,
  ].join('|');
}

/** The group a rule names as peer, or ''. */
export const peerGroupOf = (r: RuleSpec): string => (r.Direction === 'ingress' ? r.SourceGroupId : r.DestGroupId);

/** Refuses a request that lists the same rule twice, as the reference does. */
export function checkNoDuplicates(specs: readonly RuleSpec[]): void {
  const seen = new Set<string>();
  for (const s of specs) {
    const k = ruleKey(s);
    if (seen.has(k)) throw invalid('InvalidParam.DuplicatePermissions', 'There are duplicate permissions in the specified parameter Permissions.');
    seen.add(k);
  }
}

export interface AuthorizeLimits {
  /** Ingress plus egress rules of one group. */
  readonly rulesPerGroup: number;
  readonly groupPeerRules?: number;
}

/**
 * The rules Authorize adds: those not already in the group (authorizing an existing rule succeeds and
 * adds nothing). Throws when the group would exceed its limits.
 */
export function planAuthorize(existing: readonly SecurityGroupRule[], specs: readonly RuleSpec[], limits: AuthorizeLimits): RuleSpec[] {
  checkNoDuplicates(specs);
  const have = new Set(existing.map(ruleKey));
  const add = specs.filter((s) => !have.has(ruleKey(s)));
  if (existing.length + add.length > limits.rulesPerGroup)
    throw forbidden('AuthorizationLimitExceed', `The limit of authorization records in the security group reaches: at most ${limits.rulesPerGroup} rules per group.`);
  const peerLimit = limits.groupPeerRules ?? MAX_GROUP_PEER_RULES;
  const groupRules = existing.filter((r) => peerGroupOf(r) !== '').length + add.filter((r) => peerGroupOf(r) !== '').length;
  if (add.some((r) => peerGroupOf(r) !== '') && groupRules > peerLimit)
    throw invalid('AuthorizedGroupRule.LimitExceed', `You have reached the limit on the number of group authorization rules that you can add to a security group: at most ${peerLimit}.`);
  return add;
}

/** The rules left after revoking `specs`; a spec that matches nothing is not an error (as in the reference). */
export function planRevokeByFields(existing: readonly SecurityGroupRule[], specs: readonly RuleSpec[]): SecurityGroupRule[] {
  const drop = new Set(specs.map(ruleKey));
  return existing.filter((r) => !drop.has(ruleKey(r)));
}

/**
 * The rules left after revoking rules by id in one direction. Every id must name a rule of that
 * direction: since July 2024 the reference refuses unknown ids (InvalidParam.SecurityGroupRuleId).
 */
export function planRevokeByIds(existing: readonly SecurityGroupRule[], direction: SgDirection, ids: readonly string[]): SecurityGroupRule[] {
  const want = new Set<string>();
  for (const id of ids) {
    if (want.has(id)) throw invalid('InvalidParam.SecurityGroupRuleIdRepeated', `The specified parameter SecurityGroupRuleId is repeated: "${id}".`);
    want.add(id);
  }
  for (const id of want) {
    if (!existing.some((r) => r.SecurityGroupRuleId === id && r.Direction === direction))
      throw invalid('InvalidParam.SecurityGroupRuleId', `The specified parameter SecurityGroupRuleId is not valid: no ${direction} rule "${id}" in this group.`);
  }
  return existing.filter((r) => !want.has(r.SecurityGroupRuleId));
}

/** A stored rule back in wire form, so a modification can overlay the fields it changes. */
export function ruleInputOf(r: SecurityGroupRule): RuleInput {
  return {
    IpProtocol: r.IpProtocol,
    PortRange: r.PortRange,
    SourcePortRange: r.SourcePortRange,
    SourceCidrIp: r.SourceCidrIp,
    DestCidrIp: r.DestCidrIp,
    SourceGroupId: r.SourceGroupId,
    DestGroupId: r.DestGroupId,
    Policy: r.Policy,
    Priority: String(r.Priority),
    NicType: r.NicType,
    Description: r.Description,
  };
}

/**
 * ModifySecurityGroupRule by id: the fields given replace the rule's, the others stay. As in the
 * reference, the kind of peer (CIDR or group) cannot change, a field cannot be cleared, and the result
 * may not duplicate another rule of the group. Returns the group's rules with the one rule replaced.
 */
export function planModify(
  existing: readonly SecurityGroupRule[],
  direction: SgDirection,
  ruleId: string,
  change: RuleInput,
  opts: NormalizeOptions = {},
): { rules: SecurityGroupRule[]; rule: SecurityGroupRule } {
  const old = existing.find((r) => r.SecurityGroupRuleId === ruleId && r.Direction === direction);
  if (!old) throw notFound('InvalidSecurityGroupRuleId.NotFound', `The specified SecurityGroupRuleId "${ruleId}" is not exists in this group's ${direction} rules.`);
  const peerSide = direction === 'ingress' ? 'Source' : 'Dest';
  const oldIsGroup = peerGroupOf(old) !== '';
  const newCidr = change[`${peerSide}CidrIp`];
  const newGroup = change[`${peerSide}GroupId`];
  if ((oldIsGroup && !blank(newCidr)) || (!oldIsGroup && blank(newCidr) && !blank(newGroup)))
    throw invalid('InvalidOperation.ModifySgRuleEntityType', 'The source or destination type of the rules cannot be modified: add a new rule and revoke this one instead.');
  if (!blank(change.NicType) && change.NicType.trim().toLowerCase() !== old.NicType)
    throw invalid('InvalidOperation.ModifyNicType', 'NicType is not allowed to modify.');
  const merged: RuleInput = { ...ruleInputOf(old) };
  for (const [k, v] of Object.entries(change) as [keyof RuleInput, string | undefined][]) {
    // A field cannot go from set to empty: an empty value leaves it as it was.
    if (!blank(v)) merged[k] = v;
  }
  const spec = normalizeRule(direction, merged, opts);
  const rule: SecurityGroupRule = { ...spec, SecurityGroupRuleId: old.SecurityGroupRuleId, CreateTime: old.CreateTime };
  const key = ruleKey(rule);
  if (existing.some((r) => r.SecurityGroupRuleId !== ruleId && ruleKey(r) === key))
    throw invalid('InvalidOperation.RuleDuplicate', 'The modified rule is the same as another rule of this security group.');
  return { rules: existing.map((r) => (r.SecurityGroupRuleId === ruleId ? rule : r)), rule };
}
