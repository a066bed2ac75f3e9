import { defineAction } from '../../action.ts';
import { canExec, notRunningReason } from '../../../core/container-group.ts';
import { callAgent, type ExecRequest } from '../../../agent/api.ts';
import { conflict, invalidParameter } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { agentFailure, requireContainerGroup, requireGroupAgent } from '../../resources/container-group.ts';

export const ExecContainerCommand = defineAction({
  product: 'eci',
  name: 'ExecContainerCommand',
  summary: 'Runs a command in a running container (Sync: returns its output; otherwise a WebSocket session).',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupId: p.string({ required: true }),
    ContainerName: p.string({ required: true }),
    /** JSON array of strings: the argv, at most 20 items of at most 256 characters. */
    Command: p.jsonList({ required: true, max: 20, itemMax: 256 }),
    TTY: p.bool(),
    Stdin: p.bool(),
    Sync: p.bool(),
  },
  async handler(ctx, params) {
    if (params.Sync && params.TTY) throw invalidParameter('TTY', 'A Sync command runs without a TTY.');
    const group = await requireContainerGroup(ctx.tx, ctx.account, params.ContainerGroupId);
    if (!group.data.Containers.some((c) => c.Name === params.ContainerName))
      throw invalidParameter('ContainerName', `The container group ${group.id} has no container "${params.ContainerName}" (it has ${group.data.Containers.map((c) => c.Name).join(', ')}).`);
    if (!canExec(group.status)) throw conflict('IncorrectStatus', `${notRunningReason(group.id, group.status)} A command runs only in a Running container group.`);
    // The command runs on the host that runs the group, through its agent. Sync answers the output;
    // otherwise the agent answers a WebSocketUri for an interactive session (Kubernetes' channel protocol,
    // src/agent/api.ts) and, without TTY, an HttpUrl that runs the command once when fetched.
    const agent = await requireGroupAgent(ctx.tx, group);
    const body: ExecRequest = {
      ContainerGroupId: group.id,
      ContainerName: params.ContainerName,
      Command: params.Command,
      Sync: params.Sync === true,
      TTY: params.TTY === true,
      // The reference's default: the session's stdin is open.
      Stdin: params.Stdin !== false,
    };
    try {
      const r = await callAgent<{ SyncResponse?: string; WebSocketUri?: string; HttpUrl?: string }>(agent.endpoint, agent.token, '/v1/exec', body);
      return body.Sync ? { SyncResponse: r.SyncResponse ?? '' } : { WebSocketUri: r.WebSocketUri ?? '', HttpUrl: r.HttpUrl ?? '' };
    } catch (e) {
      throw agentFailure(e);
    }
  },
});
