import { defineAction } from '../../action.ts';
import { authorizeRules, RULE_ACTION_PARAMS } from '../../resources/security-group.ts';

export const AuthorizeSecurityGroupEgress = defineAction({
  product: 'ecs',
  name: 'AuthorizeSecurityGroupEgress',
  summary: 'Adds outbound rules (Permissions.N, 1–100) to a security group; a rule the group already has is not added again.',
  mutating: true,
  params: RULE_ACTION_PARAMS,
  handler: (ctx, params) => authorizeRules(ctx, params, 'egress'),
});
