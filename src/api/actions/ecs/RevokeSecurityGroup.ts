import { defineAction } from '../../action.ts';
import { revokeRules, RULE_ACTION_PARAMS, RULE_IDS_PARAM } from '../../resources/security-group.ts';

export const RevokeSecurityGroup = defineAction({
  product: 'ecs',
  name: 'RevokeSecurityGroup',
  summary: 'Removes inbound rules, by SecurityGroupRuleId.N (each must exist) or by their fields (no match is not an error).',
  mutating: true,
  params: { ...RULE_ACTION_PARAMS, SecurityGroupRuleId: RULE_IDS_PARAM },
  handler: (ctx, params) => revokeRules(ctx, params, 'ingress'),
});
