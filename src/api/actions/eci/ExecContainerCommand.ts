import { defineAction } from '../../action.ts';
import { canExec, notRunningReason } from '../../../core/container-group.ts';
import { ApiError, conflict, invalidParameter } from '../../../core/errors.ts';
import { p } from '../../../core/params.ts';
import { requireContainerGroup } from '../../resources/container-group.ts';

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
    // Contract: a command runs on the host that runs the group. Once the host agent exists, this asks that
    // host's agent to start it (argv = Command, TTY, Stdin) and answers {WebSocketUri, HttpUrl} for an
    // interactive session, or {SyncResponse} with its output when Sync is true. Until then no group gets
    // past Scheduling, so this line is reached only by a store written by something else.
    throw new ApiError('Unavailable', 'ServiceUnavailable', `No host agent serves the container group ${group.id}; the command cannot run.`);
  },
});
