import { defineAction } from '../../action.ts';
import { canReadLogs, notRunningReason } from '../../../core/container-group.ts';
import { callAgent, type LogRequest } from '../../../agent/api.ts';
import { conflict, invalidParameter } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { agentFailure, requireContainerGroup, requireGroupAgent } from '../../resources/container-group.ts';

export const DescribeContainerLog = defineAction({
  product: 'eci',
  name: 'DescribeContainerLog',
  summary: 'Reads a container\'s log from the host that runs it.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupId: p.string({ required: true }),
    ContainerName: p.string({ required: true }),
    /** RFC 3339: lines at or after it. */
    StartTime: p.string(),
    SinceSeconds: p.int({ min: 1 }),
    Tail: p.int({ min: 0 }),
    LimitBytes: p.int({ min: 1 }),
    Timestamps: p.bool(),
    /** The previous instance of the container (after a restart). */
    LastTime: p.bool(),
  },
  async handler(ctx, params) {
    if (params.StartTime !== undefined && params.StartTime !== '' && Number.isNaN(Date.parse(params.StartTime)))
      throw invalidParameter('StartTime', 'Use an RFC 3339 time such as 2018-08-02T15:00:00Z.');
    if (params.StartTime && params.SinceSeconds !== undefined) throw invalidParameter('SinceSeconds', 'Give either StartTime or SinceSeconds, not both.');
    const group = await requireContainerGroup(ctx.tx, ctx.account, params.ContainerGroupId);
    const all = [...group.data.Containers, ...group.data.InitContainers];
    if (!all.some((c) => c.Name === params.ContainerName))
      throw invalidParameter('ContainerName', `The container group ${group.id} has no container "${params.ContainerName}" (it has ${all.map((c) => c.Name).join(', ')}).`);
    if (!canReadLogs(group.status)) throw conflict('IncorrectStatus', `${notRunningReason(group.id, group.status)} It has no logs.`);
    // Logs live only on the host that runs the group; the control plane stores none. Its agent reads them.
    const agent = await requireGroupAgent(ctx.tx, group);
    const body: LogRequest = {
      ContainerGroupId: group.id,
      ContainerName: params.ContainerName,
      Tail: params.Tail,
      SinceSeconds: params.SinceSeconds,
      StartTime: params.StartTime || undefined,
      LimitBytes: params.LimitBytes,
      Timestamps: params.Timestamps,
      LastTime: params.LastTime,
    };
    try {
      const r = await callAgent<{ ContainerName: string; Content: string }>(agent.endpoint, agent.token, '/v1/logs', body);
      return { ContainerName: r.ContainerName, Content: r.Content };
    } catch (e) {
      throw agentFailure(e);
    }
  },
});
