import { defineAction } from '../../action.ts';
import { forbidden } from '../../../core/errors.ts';
import { KIND, type ContainerGroupNetworkData, type SecurityGroupData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { peerGroupOf } from '../../../core/security-group.ts';
import { requireSecurityGroup } from '../../resources/security-group.ts';

export const DeleteSecurityGroup = defineAction({
  product: 'ecs',
  name: 'DeleteSecurityGroup',
  summary: 'Deletes a security group that no container group uses and no other group names in a rule.',
  mutating: true,
  params: { RegionId: p.string({ required: true }), SecurityGroupId: p.string({ required: true }) },
  async handler(ctx, params) {
    const sg = await requireSecurityGroup(ctx.tx, ctx.account, params.SecurityGroupId, params.RegionId);
    // Every container group of the account is read: bounded by the containerGroups quota.
    const members = await ctx.tx.list<Partial<ContainerGroupNetworkData>>({ kind: KIND.containerGroup, account: ctx.account });
    const user = members.find((m) => m.data.SecurityGroupIds?.includes(sg.id));
    if (user) throw forbidden('DependencyViolation', `There is still instance(s) in the specified security group: ${user.id} uses ${sg.id}.`);
    // A group may only be named as peer by groups of its own VPC.
    for (const other of await ctx.tx.list<SecurityGroupData>({ kind: KIND.securityGroup, account: ctx.account, parent: sg.data.VpcId })) {
      if (other.id !== sg.id && other.data.Permissions.some((r) => peerGroupOf(r) === sg.id))
        throw forbidden('DependencyViolation', `The specified security group has been authorized in another one: a rule of ${other.id} names ${sg.id}.`);
    }
    await ctx.tx.delete(KIND.securityGroup, sg.id);
    return {};
  },
});
