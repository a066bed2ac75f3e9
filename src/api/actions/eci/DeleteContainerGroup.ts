import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { removeContainerGroup, requireContainerGroup } from '../../resources/container-group.ts';

export const DeleteContainerGroup = defineAction({
  product: 'eci',
  name: 'DeleteContainerGroup',
  summary: 'Deletes a container group with its private IP, its auto-created EIP (a user EIP is unbound) and its events.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupId: p.string({ required: true }),
    ClientToken: p.string({ max: 64 }),
    /** Skip the graceful stop (preStop hooks, TerminationGracePeriodSeconds). */
    Force: p.bool(),
  },
  async handler(ctx, params) {
    const group = await requireContainerGroup(ctx.tx, ctx.account, params.ContainerGroupId);
    // Already on its way out: asking again changes nothing.
    if (group.status === 'Terminating') return {};
    // No host agent exists yet, so no group is on a host (core isOnHost) and every group is removed at
    // once, in this transaction. Contract for the agent's issue: a group some host holds becomes
    // Terminating here (unless Force), the agent stops it gracefully and then calls removeContainerGroup.
    await removeContainerGroup(ctx.tx, group);
    return {};
  },
});
