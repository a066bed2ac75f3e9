// Security group rules shared by the ECS actions (and by ECI, which attaches instances to groups): the
// owned-group lookup, the rule parameters in both wire forms (Permissions.N.* and the deprecated flat
// parameters), the store checks on peer groups, and the bodies of Authorize/Revoke in both directions.

import type { ActionContext } from '../action.ts';
import { forbidden, invalid, notFound } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { KIND, type SecurityGroupData, type SecurityGroupRule, type SgDirection } from '../../core/model.ts';
import { p } from '../../core/params.ts';
import {
  normalizeRule,
  peerGroupOf,
  planAuthorize,
  planRevokeByFields,
  planRevokeByIds,
  type RuleInput,
  type RuleSpec,
} from '../../core/security-group.ts';
import type { Resource, Tx } from '../../store/store.ts';
import { getOwned } from './common.ts';

/** The account's group, in `region` when given; anything else (another account's group too) is NotFound. */
export async function requireSecurityGroup(tx: Tx, account: string, id: string, region?: string): Promise<Resource<SecurityGroupData>> {
  const r = await getOwned<SecurityGroupData>(tx, KIND.securityGroup, account, id);
  if (!r || (region && r.region !== region)) throw notFound('InvalidSecurityGroupId.NotFound', `The specified SecurityGroupId "${id}" does not exist.`);
  return r;
}

/**
 * The fields of one rule. Values stay strings here: src/core/security-group.ts validates them so that
 * each answers its own reference code (InvalidPriority.Malformed, not InvalidParameter).
 */
export const RULE_FIELDS = {
  IpProtocol: p.string({ doc: 'TCP, UDP, ICMP, GRE or ALL (any case)' }),
  PortRange: p.string({ doc: 'from/to: 1..65535 for TCP/UDP, -1/-1 otherwise' }),
  SourcePortRange: p.string(),
  SourceCidrIp: p.string(),
  DestCidrIp: p.string(),
  SourceGroupId: p.string(),
  DestGroupId: p.string(),
  Policy: p.string({ doc: 'accept (default) or drop' }),
  Priority: p.string({ doc: '1..100, default 1; smaller wins, drop wins a tie' }),
  NicType: p.string(),
  Description: p.string(),
  Ipv6SourceCidrIp: p.string(),
  Ipv6DestCidrIp: p.string(),
  SourcePrefixListId: p.string(),
  DestPrefixListId: p.string(),
  PortRangeListId: p.string(),
};
const RULE_FIELD_NAMES = Object.keys(RULE_FIELDS) as (keyof typeof RULE_FIELDS)[];

/** Parameters of Authorize*, Revoke*: a group, then rules as Permissions.N (1..100) or flat. */
export const RULE_ACTION_PARAMS = {
  RegionId: p.string({ required: true }),
  SecurityGroupId: p.string({ required: true }),
  Permissions: p.list(p.struct(RULE_FIELDS), { max: 100 }),
  ...RULE_FIELDS,
};

/** SecurityGroupRuleId.N of the Revoke actions (1..100). */
export const RULE_IDS_PARAM = p.list(p.string(), { max: 100 });

type RuleActionParams = { Permissions?: RuleInput[]; SecurityGroupRuleId?: string[]; RegionId: string; SecurityGroupId: string } & RuleInput;

/** The flat (deprecated) rule parameters the request carries, or undefined when it carries none. */
function flatRule(params: RuleInput): RuleInput | undefined {
  const out: RuleInput = {};
  let any = false;
  for (const k of RULE_FIELD_NAMES) {
    const v = params[k];
    if (v !== undefined && v !== '') {
      out[k] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** The request's rules with a label for messages; the two wire forms may not be mixed (as in the reference). */
export function ruleInputs(params: RuleActionParams): { input: RuleInput; where: string }[] {
  const flat = flatRule(params);
  const listed = params.Permissions ?? [];
  if (listed.length > 0) {
    if (flat) throw invalid('InvalidParam.Permissions', 'The specified parameter Permissions cannot coexist with other parameters (the deprecated flat rule parameters).');
    return listed.map((input, i) => ({ input, where: `Permissions.${i + 1}` }));
  }
  if (flat) return [{ input: flat, where: '' }];
  throw invalid('MissingParameter', 'The input parameter "Permissions" that is mandatory for processing this request is not supplied.');
}

/**
 * A peer group must be one of the account's groups in the same VPC, and (when a rule is being added)
 * not the group itself. Codes as the reference answers them for each direction.
 */
export async function checkPeerGroups(tx: Tx, account: string, sg: Resource<SecurityGroupData>, specs: readonly RuleSpec[], adding: boolean): Promise<void> {
  const checked = new Set<string>();
  for (const spec of specs) {
    const id = peerGroupOf(spec);
    if (!id || checked.has(id)) continue;
    checked.add(id);
    const side = spec.Direction === 'ingress' ? 'Source' : 'Dest';
    if (id === sg.id) {
      if (!adding) continue;
      if (side === 'Source') throw forbidden('InvalidParamter.Conflict', 'The specified SecurityGroupId should be different from the SourceGroupId.');
      throw forbidden('InvalidSecurityGroup.IsSame', 'The authorized SecurityGroupId should be different from the DestGroupId.');
    }
    const peer = await getOwned<SecurityGroupData>(tx, KIND.securityGroup, account, id);
    if (!peer || peer.region !== sg.region) throw notFound(`Invalid${side}GroupId.NotFound`, `The ${side}GroupId "${id}" provided does not exist in our records.`);
    if (peer.data.VpcId !== sg.data.VpcId)
      throw invalid(`Invalid${side}GroupId.Mismatch`, `Specified security group and ${side === 'Source' ? 'source' : 'destination'} group are not in the same VPC.`);
  }
}

async function saveRules(ctx: ActionContext, sg: Resource<SecurityGroupData>, rules: SecurityGroupRule[]): Promise<void> {
  await ctx.tx.update({ ...sg, data: { ...sg.data, Permissions: rules } });
}

/** AuthorizeSecurityGroup(Egress): adds the rules the group lacks; an existing identical rule is left alone. */
export async function authorizeRules(ctx: ActionContext, params: RuleActionParams, direction: SgDirection): Promise<Record<string, unknown>> {
  const sg = await requireSecurityGroup(ctx.tx, ctx.account, params.SecurityGroupId, params.RegionId);
  const specs = ruleInputs(params).map(({ input, where }) => normalizeRule(direction, input, { where, groupType: sg.data.SecurityGroupType }));
  await checkPeerGroups(ctx.tx, ctx.account, sg, specs, true);
  const add = planAuthorize(sg.data.Permissions, specs, { rulesPerGroup: ctx.config.quotas.rulesPerSecurityGroup });
  if (add.length > 0) {
    const created = add.map((s): SecurityGroupRule => ({ ...s, SecurityGroupRuleId: newId('securityGroupRule', ctx.random), CreateTime: ctx.nowText }));
    await saveRules(ctx, sg, [...sg.data.Permissions, ...created]);
  }
  return {};
}

/**
 * RevokeSecurityGroup(Egress): by SecurityGroupRuleId.N (each must exist) or by the rules' fields (a
 * rule that matches nothing is not an error), never both in one request.
 */
export async function revokeRules(ctx: ActionContext, params: RuleActionParams, direction: SgDirection): Promise<Record<string, unknown>> {
  const sg = await requireSecurityGroup(ctx.tx, ctx.account, params.SecurityGroupId, params.RegionId);
  const ids = (params.SecurityGroupRuleId ?? []).map((s) => s.trim()).filter((s) => s !== '');
  let rules: SecurityGroupRule[];
  if (ids.length > 0) {
    if ((params.Permissions ?? []).length > 0 || flatRule(params))
      throw invalid('InvalidParam.Permissions', 'The parameters SecurityGroupRuleId and Permissions (or the flat rule parameters) cannot be specified in the same request.');
    rules = planRevokeByIds(sg.data.Permissions, direction, ids);
  } else {
    const specs = ruleInputs(params).map(({ input, where }) => normalizeRule(direction, input, { where }));
    await checkPeerGroups(ctx.tx, ctx.account, sg, specs, false);
    rules = planRevokeByFields(sg.data.Permissions, specs);
  }
  if (rules.length !== sg.data.Permissions.length) await saveRules(ctx, sg, rules);
  return {};
}

/** A rule as DescribeSecurityGroupAttribute prints it; `names` maps peer group ids to their names. */
export function presentRule(r: SecurityGroupRule, names: ReadonlyMap<string, string>): Record<string, unknown> {
  return {
    SecurityGroupRuleId: r.SecurityGroupRuleId,
    Direction: r.Direction,
    IpProtocol: r.IpProtocol,
    PortRange: r.PortRange,
    SourcePortRange: r.SourcePortRange,
    SourceCidrIp: r.SourceCidrIp,
    SourceGroupId: r.SourceGroupId,
    SourceGroupName: r.SourceGroupId ? (names.get(r.SourceGroupId) ?? '') : '',
    SourceGroupOwnerAccount: '',
    SourcePrefixListId: '',
    SourcePrefixListName: '',
    Ipv6SourceCidrIp: '',
    DestCidrIp: r.DestCidrIp,
    DestGroupId: r.DestGroupId,
    DestGroupName: r.DestGroupId ? (names.get(r.DestGroupId) ?? '') : '',
    DestGroupOwnerAccount: '',
    DestPrefixListId: '',
    DestPrefixListName: '',
    Ipv6DestCidrIp: '',
    PortRangeListId: '',
    PortRangeListName: '',
    Policy: r.Policy,
    // The reference (and its SDK model) carries Priority as a string.
    Priority: String(r.Priority),
    NicType: r.NicType,
    Description: r.Description,
    CreateTime: r.CreateTime,
  };
}
