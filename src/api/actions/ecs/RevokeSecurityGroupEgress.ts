import { defineAction } from '../../action.ts';
import { revokeRules, RULE_ACTION_PARAMS, RULE_IDS_PARAM } from '../../resources/security-group.ts';

export const RevokeSecurityGroupEgress = defineAction({
  product: 'ecs',
  name: 'RevokeSecurityGroupEgress',
  summary: 'Removes outbound rules, by SecurityGroupRuleId.N (each must exist) or by their fields (no match is not an error).',
  mutating: true,
  params: { ...RULE_ACTION_PARAMS, SecurityGroupRuleId: RULE_IDS_PARAM },
  handler: (ctx, params) => revokeRules(ctx, params, 'egress'),
});
