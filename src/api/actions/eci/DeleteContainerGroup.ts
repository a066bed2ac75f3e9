import { defineAction } from '../../action.ts';
import { isOnHost } from '../../../core/container-group.ts';
import { KIND, type HostData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { removeContainerGroup, requireContainerGroup } from '../../resources/container-group.ts';

export const DeleteContainerGroup = defineAction({
  product: 'eci',
  name: 'DeleteContainerGroup',
  summary: 'Deletes a container group with its private IP, its auto-created EIP (a user EIP is unbound) and its events; a group a host runs is stopped gracefully first (Terminating).',
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
    const hostId = group.data.HostId ?? '';
    const host = hostId ? await ctx.tx.get<HostData>(KIND.host, hostId) : undefined;
    // A group no host holds (or whose host no longer exists) is removed at once, in this transaction.
    if (!hostId || !host || !isOnHost(group.status)) {
      await removeContainerGroup(ctx.tx, group);
      return {};
    }
    // Already on its way out: asking again changes nothing, except that Force shortens the grace period.
    if (group.status === 'Terminating' && (!params.Force || group.data.ForceDelete)) return {};
    // The host's agent stops the containers (SIGTERM, TerminationGracePeriodSeconds, SIGKILL, or at once
    // with Force), removes the group's kernel state, then calls removeContainerGroup.
    group.status = 'Terminating';
    group.data = { ...group.data, StatusTime: ctx.nowText, ForceDelete: params.Force === true };
    await ctx.tx.update(group);
    await ctx.tx.addEvent(ctx.account, { resourceId: group.id, type: 'Normal', reason: 'Killing', message: params.Force ? 'Deletion requested (Force): stopping the containers now.' : `Deletion requested: stopping the containers (grace period ${group.data.TerminationGracePeriodSeconds}s).` }, ctx.nowText);
    return {};
  },
});
