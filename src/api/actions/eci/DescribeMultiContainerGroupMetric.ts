import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import { requireContainerGroup } from '../../resources/container-group.ts';
import { requireGroupMetrics } from './DescribeContainerGroupMetric.ts';

const MEASURED: ReadonlySet<string> = new Set(['Running', 'Updating', 'Restarting']);

export const DescribeMultiContainerGroupMetric = defineAction({
  product: 'eci',
  name: 'DescribeMultiContainerGroupMetric',
  summary: 'Reads the latest metric record of several container groups.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupIds: p.jsonList({ required: true, max: 20 }),
    /** Accepted for compatibility ('summary' is the only kind OpenECI has: CPU, memory, network). */
    MetricType: p.string(),
    ResourceGroupId: p.string(),
  },
  async handler(ctx, params) {
    const MonitorDatas = [];
    for (const id of new Set(params.ContainerGroupIds)) {
      const group = await requireContainerGroup(ctx.tx, ctx.account, id);
      // A group whose containers do not run has no current record: an empty list, not a failure of the batch.
      const records = MEASURED.has(group.status) ? await requireGroupMetrics(ctx.tx, group) : [];
      MonitorDatas.push({ ContainerGroupId: group.id, Records: records.slice(-1) });
    }
    return { MonitorDatas };
  },
});
