import { defineAction } from '../../action.ts';
import { authorizeRules, RULE_ACTION_PARAMS } from '../../resources/security-group.ts';

export const AuthorizeSecurityGroup = defineAction({
  product: 'ecs',
  name: 'AuthorizeSecurityGroup',
  summary: 'Adds inbound rules (Permissions.N, 1–100) to a security group; a rule the group already has is not added again.',
  mutating: true,
  params: RULE_ACTION_PARAMS,
  handler: (ctx, params) => authorizeRules(ctx, params, 'ingress'),
});
