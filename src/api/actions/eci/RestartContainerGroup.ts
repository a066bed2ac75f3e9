import { defineAction } from '../../action.ts';
import { notRunningReason, restartTarget } from '../../../core/container-group.ts';
import { conflict } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { requireContainerGroup } from '../../resources/container-group.ts';

export const RestartContainerGroup = defineAction({
  product: 'eci',
  name: 'RestartContainerGroup',
  summary: 'Restarts the containers of a Pending or Running container group (→ Restarting; its host agent restarts them).',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupId: p.string({ required: true }),
    ClientToken: p.string({ max: 64 }),
  },
  async handler(ctx, params) {
    const group = await requireContainerGroup(ctx.tx, ctx.account, params.ContainerGroupId);
    const target = restartTarget(group.status);
    if (!target) throw conflict('IncorrectStatus', `${notRunningReason(group.id, group.status)} Only a Pending or Running container group can be restarted.`);
    // The host agent sees Restarting, restarts the containers and reports Running again.
    group.status = target;
    group.data = { ...group.data, StatusTime: ctx.nowText };
    await ctx.tx.update(group);
    await ctx.tx.addEvent(ctx.account, { resourceId: group.id, type: 'Normal', reason: 'Restarting', message: 'Restart requested.' }, ctx.nowText);
    return {};
  },
});
