// Presentation of the observed state the host agent persists on a container group, for the ECI
// responses. Pure.
//
// What the agent writes (src/agent/runtime/lifecycle.ts produces it; model.ts ContainerGroupData):
//   ContainerStatuses / InitContainerStatuses  one ContainerStatusData per container, in spec order:
//       Name, Ready, Started, RestartCount (= the current run's ordinal),
//       CurrentState / PreviousState {State: Waiting|Running|Terminated, Reason, Message, DetailStatus,
//       ExitCode, Signal (Terminated only), StartTime, FinishTime (RFC 3339 or '')}
//   StartTime                                  when the host began running the group
//   StatusReason / StatusMessage               why the group is in its status (DeadlineExceeded…)
//   and on the row: status, StatusTime, SucceededTime / FailedTime.
// Before a host reports (Scheduling, ScheduleFailed, or placed but not yet seen) these are absent and
// the presentation falls back to the placeholder states of core/container-group.ts.

import { initialContainerState, podPhase, projectPodStatus, qosClass } from './container-group.ts';
import type { ContainerGroupData, ContainerSpec, ContainerStateData, ContainerStatusData } from './model.ts';

export type ObservedGroup = Pick<
  ContainerGroupData,
  'Containers' | 'InitContainers' | 'ContainerStatuses' | 'InitContainerStatuses' | 'StartTime' | 'StatusReason' | 'StatusMessage' | 'IntranetIp' | 'StatusTime'
>;

/** The agent's status of one container, or undefined before a host reported it. */
export function observedContainer(d: Pick<ContainerGroupData, 'ContainerStatuses' | 'InitContainerStatuses'>, name: string, init: boolean): ContainerStatusData | undefined {
  return (init ? d.InitContainerStatuses : d.ContainerStatuses)?.find((s) => s.Name === name);
}

/** A state in the reference's CurrentState / PreviousState shape (ExitCode and Signal only when Terminated). */
export function presentState(s: ContainerStateData) {
  return {
    State: s.State,
    DetailStatus: s.DetailStatus,
    Reason: s.Reason,
    Message: s.Message,
    ...(s.State === 'Terminated' ? { ExitCode: s.ExitCode ?? 0, Signal: s.Signal ?? 0 } : {}),
    StartTime: s.StartTime,
    FinishTime: s.FinishTime,
  };
}

/**
 * The observed fields of a DescribeContainerGroups Containers[] / InitContainers[] item: Ready,
 * RestartCount, CurrentState, PreviousState ({} when none, as the reference answers).
 */
export function presentContainerState(groupStatus: string, observed: ContainerStatusData | undefined) {
  if (!observed) {
    const s = initialContainerState(groupStatus);
    return { Ready: false, RestartCount: 0, CurrentState: { State: s.State, DetailStatus: '', Reason: s.Reason, Message: s.Message }, PreviousState: {} };
  }
  return {
    Ready: observed.Ready,
    RestartCount: observed.RestartCount,
    CurrentState: presentState(observed.CurrentState),
    PreviousState: observed.PreviousState ? presentState(observed.PreviousState) : {},
  };
}

/** A state as a Kubernetes ContainerState ({Running}, {Terminated}, {Waiting}) in the reference's casing. */
export function kubeState(s: ContainerStateData | undefined) {
  if (!s) return {};
  if (s.State === 'Running') return { Running: { StartedAt: s.StartTime } };
  if (s.State === 'Terminated')
    return {
      Terminated: { ExitCode: s.ExitCode ?? 0, Signal: s.Signal ?? 0, Reason: s.Reason, Message: s.Message, StartedAt: s.StartTime, FinishedAt: s.FinishTime, ContainerID: '' },
    };
  return { Waiting: { Reason: s.Reason, Message: s.Message } };
}

function kubeContainerStatus(c: Pick<ContainerSpec, 'Name' | 'Image'>, s: ContainerStatusData | undefined) {
  return {
    Name: c.Name,
    Image: c.Image,
    ImageID: s?.ImageID ?? '',
    Ready: s?.Ready ?? false,
    Started: s ? s.CurrentState.State === 'Running' : false,
    RestartCount: s?.RestartCount ?? 0,
    State: s ? kubeState(s.CurrentState) : { Waiting: { Reason: 'ContainerCreating', Message: '' } },
    LastState: kubeState(s?.PreviousState),
  };
}

/**
 * DescribeContainerGroupStatus's PodStatus of a group: from the agent's observed state once a host has
 * reported, else the placeholder of core/container-group.ts projectPodStatus. `hostIp` is the host's
 * address when known.
 */
export function projectObservedPodStatus(status: string, d: ObservedGroup, hostIp = '') {
  if (!d.ContainerStatuses) {
    const placeholder = (containers: readonly ContainerSpec[]) => projectPodStatus({ status, statusTime: d.StatusTime, intranetIp: d.IntranetIp, containers });
    return { ...placeholder(d.Containers), HostIp: hostIp, InitContainerStatuses: placeholder(d.InitContainers).ContainerStatuses };
  }
  const t = d.StatusTime;
  const apps = d.Containers.map((c) => observedContainer(d, c.Name, false));
  const inits = d.InitContainers.map((c) => observedContainer(d, c.Name, true));
  const initialized = inits.every((s) => s?.CurrentState.State === 'Terminated' && s.CurrentState.ExitCode === 0);
  const allReady = apps.length > 0 && apps.every((s) => s?.Ready === true);
  const notReady = d.Containers.filter((_, i) => !apps[i]?.Ready).map((c) => c.Name);
  const condition = (type: string, ok: boolean, reason: string, message: string) => ({
    type,
    status: ok ? 'True' : 'False',
    Reason: ok ? '' : reason,
    Message: ok ? '' : message,
    lastTransitionTime: t,
  });
  const notReadyMessage = `containers with unready status: [${notReady.join(' ')}]`;
  const pendingInits = d.InitContainers.filter((_, i) => !(inits[i]?.CurrentState.State === 'Terminated' && inits[i]?.CurrentState.ExitCode === 0)).map((c) => c.Name);
  return {
    Phase: podPhase(status),
    ...(d.StatusReason ? { Reason: d.StatusReason, Message: d.StatusMessage ?? '' } : {}),
    PodIp: d.IntranetIp,
    PodIps: d.IntranetIp ? [{ Ip: d.IntranetIp }] : [],
    HostIp: hostIp,
    QosClass: qosClass(d.Containers),
    StartTime: d.StartTime ?? '',
    Conditions: [
      condition('Initialized', initialized, 'ContainersNotInitialized', `containers with incomplete status: [${pendingInits.join(' ')}]`),
      condition('Ready', allReady, 'ContainersNotReady', notReadyMessage),
      condition('ContainersReady', allReady, 'ContainersNotReady', notReadyMessage),
      condition('PodScheduled', true, '', ''),
    ],
    ContainerStatuses: d.Containers.map((c, i) => kubeContainerStatus(c, apps[i])),
    InitContainerStatuses: d.InitContainers.map((c, i) => kubeContainerStatus(c, inits[i])),
  };
}
