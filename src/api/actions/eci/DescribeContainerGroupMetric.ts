import { defineAction } from '../../action.ts';
import { callAgent, type MetricsResponse } from '../../../agent/api.ts';
import { conflict, invalidParameter } from '../../../core/errors.ts';
import { selectRecords, type MetricRecord } from '../../../core/metrics.ts';
import { notRunningReason } from '../../../core/container-group.ts';
import type { ContainerGroupData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import type { Resource, Tx } from '../../../store/store.ts';
import { agentFailure, requireContainerGroup, requireGroupAgent } from '../../resources/container-group.ts';

/** The statuses in which a group's containers run on its host (and so have metrics). */
const MEASURED: ReadonlySet<string> = new Set(['Running', 'Updating', 'Restarting']);

/** Without StartTime, the records of the last five minutes. */
const DEFAULT_WINDOW_MS = 5 * 60_000;

/**
 * The samples the group's host agent holds (it samples every 15 s and keeps the last 60, plus a fresh
 * one per query). Metrics live only on the host; the control plane stores none. Throws IncorrectStatus
 * for a group whose containers do not run.
 */
export async function requireGroupMetrics(tx: Tx, group: Resource<ContainerGroupData>): Promise<MetricRecord[]> {
  if (!MEASURED.has(group.status)) throw conflict('IncorrectStatus', `${notRunningReason(group.id, group.status)} It has no metrics.`);
  const agent = await requireGroupAgent(tx, group);
  try {
    return (await callAgent<MetricsResponse>(agent.endpoint, agent.token, '/v1/metrics', { ContainerGroupId: group.id })).Records;
  } catch (e) {
    throw agentFailure(e);
  }
}

function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw invalidParameter(name, 'Use an RFC 3339 time such as 2018-08-02T15:00:00Z.');
  return t;
}

export const DescribeContainerGroupMetric = defineAction({
  product: 'eci',
  name: 'DescribeContainerGroupMetric',
  summary: 'Reads a running container group\'s CPU, memory and network metrics from the host that runs it.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupId: p.string({ required: true }),
    /** RFC 3339; default five minutes before EndTime (or now). */
    StartTime: p.string(),
    /** RFC 3339; default: no upper bound (up to the sample taken for this query). */
    EndTime: p.string(),
    /** Seconds between returned records (the latest sample of each period); default: every sample. */
    Period: p.enum(['15', '30', '60', '600']),
  },
  async handler(ctx, params) {
    const end = parseTime('EndTime', params.EndTime);
    const start = parseTime('StartTime', params.StartTime) ?? (end ?? ctx.now.getTime()) - DEFAULT_WINDOW_MS;
    if (end !== undefined && start > end) throw invalidParameter('StartTime', 'StartTime must not be after EndTime.');
    const group = await requireContainerGroup(ctx.tx, ctx.account, params.ContainerGroupId);
    const records = await requireGroupMetrics(ctx.tx, group);
    return {
      ContainerGroupId: group.id,
      Records: selectRecords(records, start, end ?? Number.POSITIVE_INFINITY, params.Period ? Number(params.Period) : undefined),
    };
  },
});
