import { defineAction } from '../../action.ts';
import { projectObservedPodStatus } from '../../../core/container-status.ts';
import { p } from '../../../core/params.ts';
import { groupFilterParams, groupFiltersOf, listGroups, podIdentity, secondsBefore, sinceSecondParam } from '../../resources/container-group.ts';

export const DescribeContainerGroupStatus = defineAction({
  product: 'eci',
  name: 'DescribeContainerGroupStatus',
  summary: 'Lists container groups\' statuses as Kubernetes pod statuses (phase, conditions, container states).',
  mutating: false,
  params: {
    ...groupFilterParams,
    /** Only groups whose status changed in the last SinceSecond seconds (incremental polling). */
    SinceSecond: sinceSecondParam,
    // The virtual node polls this in bulk; the reference's default page is 200.
    Limit: p.int({ min: 1, max: 500 }),
    NextToken: p.string(),
  },
  async handler(ctx, params) {
    const page = await listGroups(
      ctx.tx,
      ctx.account,
      {
        ...groupFiltersOf(params),
        statusSince: params.SinceSecond !== undefined ? secondsBefore(ctx.now, params.SinceSecond) : undefined,
      },
      params.Limit ?? 200,
      params.NextToken,
    );
    return {
      TotalCount: page.total,
      NextToken: page.nextToken,
      Data: page.items.map((r) => ({
        ContainerGroupId: r.id,
        ...podIdentity(r.data),
        Annotations: '',
        Status: r.status,
        PodStatus: projectObservedPodStatus(r.status, r.data),
      })),
    };
  },
});
