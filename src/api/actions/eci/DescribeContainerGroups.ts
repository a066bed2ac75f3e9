import { defineAction, renderedResult } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { groupFilterParams, groupFiltersOf, latestEvents, listGroups, presentEvent, renderContainerGroup } from '../../resources/container-group.ts';

export const DescribeContainerGroups = defineAction({
  product: 'eci',
  name: 'DescribeContainerGroups',
  summary: 'Lists container groups with their full spec, status and (unless WithEvent=false) their latest 50 events.',
  mutating: false,
  params: {
    ...groupFilterParams,
    ContainerGroupName: p.string(),
    Status: p.string(),
    SecurityGroupId: p.string(),
    ComputeCategory: p.string(),
    WithEvent: p.bool(),
    Limit: p.int({ min: 1, max: 20 }),
    NextToken: p.string(),
  },
  async handler(ctx, params) {
    // Every instance is of the general category (CreateContainerGroup refuses economy).
    if (params.ComputeCategory && params.ComputeCategory !== 'general') return { TotalCount: 0, NextToken: '', ContainerGroups: [] };
    const page = await listGroups(
      ctx.tx,
      ctx.account,
      {
        ...groupFiltersOf(params),
        name: params.ContainerGroupName || undefined,
        status: params.Status || undefined,
        securityGroupId: params.SecurityGroupId || undefined,
      },
      params.Limit ?? 20,
      params.NextToken,
      true,
    );
    const events = params.WithEvent === false ? undefined : await latestEvents(ctx.tx, page.items.map((r) => r.id));
    // Rendered: a group unchanged since an earlier answer is neither decoded nor presented again.
    const groups = page.items.map((r) => renderContainerGroup(ctx.store, r, events?.get(r.id)?.map((e) => presentEvent(r.id, e))));
    return renderedResult(`"TotalCount":${page.total},"NextToken":${JSON.stringify(page.nextToken)},"ContainerGroups":[${groups.join(',')}]`);
  },
});
