import { defineAction } from '../../action.ts';
import { notFound } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { normalizeRule, planModify, ruleKey } from '../../../core/security-group.ts';
import { checkPeerGroups, requireSecurityGroup, RULE_FIELDS } from '../../resources/security-group.ts';

export const ModifySecurityGroupRule = defineAction({
  product: 'ecs',
  name: 'ModifySecurityGroupRule',
  summary: 'Changes an inbound rule given by SecurityGroupRuleId (fields not given stay); without an id, sets the Description of the rule the fields name.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    SecurityGroupId: p.string({ required: true }),
    SecurityGroupRuleId: p.string(),
    ...RULE_FIELDS,
  },
  async handler(ctx, params) {
    const sg = await requireSecurityGroup(ctx.tx, ctx.account, params.SecurityGroupId, params.RegionId);
    const { RegionId: _r, SecurityGroupId: _s, SecurityGroupRuleId: ruleId, ...change } = params;
    let rules;
    if (ruleId) {
      const planned = planModify(sg.data.Permissions, 'ingress', ruleId, change, { groupType: sg.data.SecurityGroupType });
      await checkPeerGroups(ctx.tx, ctx.account, sg, [planned.rule], true);
      rules = planned.rules;
    } else {
      // The older form: the fields name the rule (as Revoke does); only its description changes.
      const key = ruleKey(normalizeRule('ingress', change));
      if (!sg.data.Permissions.some((r) => ruleKey(r) === key)) throw notFound('SecurityGroupRule.NotFound', 'The target security group rule not exist.');
      rules = sg.data.Permissions.map((r) => (ruleKey(r) === key && change.Description !== undefined ? { ...r, Description: change.Description } : r));
    }
    await ctx.tx.update({ ...sg, data: { ...sg.data, Permissions: rules } });
    return {};
  },
});
