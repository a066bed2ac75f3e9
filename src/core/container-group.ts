// Container group rules that need no I/O: the status machine, the Kubernetes projection of a status,
// resource sizing, and the validators the ECI actions share. Everything here is pure and table-tested
// (test/core/container-group.test.ts).

import { parseIp } from './cidr.ts';
import type { ContainerGroupStatus, ContainerSpec } from './model.ts';

// ---------------------------------------------------------------------------------------------------
// Status machine (reference §2.3). Who moves a group where:
//   CreateContainerGroup            → Scheduling
//   placement (no host agent yet)     Scheduling → Pending | ScheduleFailed
//   agent                             Pending → Running → Succeeded | Failed; Restarting/Updating → Running
//   RestartContainerGroup             Pending | Running → Restarting
//   UpdateContainerGroup              Pending | Running → Updating; Scheduling keeps Scheduling (only the spec changes)
//   DeleteContainerGroup              any → gone (while no host holds it) or → Terminating (agent stops it)

export const CONTAINER_GROUP_STATUSES: readonly ContainerGroupStatus[] = [
  'Scheduling', 'ScheduleFailed', 'Pending', 'Running', 'Restarting', 'Updating', 'Terminating', 'Succeeded', 'Failed', 'Expired',
];

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

const PHASES: Readonly<Record<ContainerGroupStatus, PodPhase>> = {
  Scheduling: 'Pending',
  ScheduleFailed: 'Failed',
  Pending: 'Pending',
  Running: 'Running',
  Restarting: 'Pending',
  Updating: 'Pending',
  Terminating: 'Running',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Expired: 'Failed',
};

export function isContainerGroupStatus(s: string): s is ContainerGroupStatus {
  return (CONTAINER_GROUP_STATUSES as readonly string[]).includes(s);
}

/** The Kubernetes pod phase of an ECI status (reference §2.3; Expired, which has none, counts as Failed). */
export function podPhase(status: string): PodPhase {
  return isContainerGroupStatus(status) ? PHASES[status] : 'Unknown';
}

/** Statuses in which a host holds the group's containers (so logs exist and the agent must stop it). */
const ON_HOST: ReadonlySet<string> = new Set(['Pending', 'Running', 'Restarting', 'Updating', 'Terminating', 'Succeeded', 'Failed']);

export const isOnHost = (status: string): boolean => ON_HOST.has(status);

/** RestartContainerGroup: only Pending or Running (reference), which then become Restarting. */
export function restartTarget(status: string): 'Restarting' | undefined {
  return status === 'Pending' || status === 'Running' ? 'Restarting' : undefined;
}

/**
 * UpdateContainerGroup: the status after a spec change, or undefined when the status forbids one.
 * A group no host runs yet only gets the new spec; a running one goes Updating until the agent applies it.
 */
export function updateTarget(status: string): ContainerGroupStatus | undefined {
  if (status === 'Scheduling') return 'Scheduling';
  if (status === 'Pending' || status === 'Running') return 'Updating';
  return undefined;
}

/** DescribeContainerLog needs containers placed on a host (a finished one keeps its logs there). */
export const canReadLogs = (status: string): boolean => ON_HOST.has(status);

/** ExecContainerCommand needs a running container. */
export const canExec = (status: string): boolean => status === 'Running' || status === 'Updating';

/** Why a group has no running containers, in words, for IncorrectStatus messages. */
export function notRunningReason(id: string, status: string): string {
  switch (status) {
    case 'Scheduling':
      return `The container group ${id} is Scheduling: no host runs it yet, so its containers have not started.`;
    case 'ScheduleFailed':
      return `The container group ${id} is ScheduleFailed: it was never placed on a host, so its containers never ran.`;
    case 'Pending':
      return `The container group ${id} is Pending: its containers are starting.`;
    default:
      return `The container group ${id} is ${status}, so it has no running container.`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes projection (DescribeContainerGroupStatus).

/** The state a container shows before the agent has reported one (Waiting, with why). */
export function initialContainerState(status: string): { State: 'Waiting' | 'Terminated'; Reason: string; Message: string } {
  switch (status) {
    case 'Scheduling':
      return { State: 'Waiting', Reason: 'Scheduling', Message: 'The container group is waiting for a host.' };
    case 'ScheduleFailed':
      return { State: 'Terminated', Reason: 'ScheduleFailed', Message: 'The container group could not be placed on a host.' };
    default:
      return { State: 'Waiting', Reason: 'ContainerCreating', Message: '' };
  }
}

export interface PodStatusInput {
  status: string;
  /** When the status last changed. */
  statusTime: string;
  intranetIp: string;
  containers: readonly Pick<ContainerSpec, 'Name' | 'Image' | 'Cpu' | 'Memory'>[];
}

/**
 * The k8s-style PodStatus of a group the agent has not reported on (so: no host, no start time, no
 * ready container). Casing follows the reference's mixed model (`Phase`, `type`, `lastTransitionTime`).
 */
export function projectPodStatus(g: PodStatusInput) {
  const phase = podPhase(g.status);
  const state = initialContainerState(g.status);
  const scheduled = isOnHost(g.status);
  return {
    Phase: phase,
    PodIp: g.intranetIp,
    PodIps: g.intranetIp ? [{ Ip: g.intranetIp }] : [],
    HostIp: '',
    QosClass: qosClass(g.containers),
    StartTime: '',
    Conditions: [
      {
        type: 'PodScheduled',
        status: scheduled ? 'True' : 'False',
        Reason: scheduled ? '' : g.status === 'ScheduleFailed' ? 'Unschedulable' : 'Scheduling',
        Message: scheduled ? '' : state.Message,
        lastTransitionTime: g.statusTime,
      },
      { type: 'Ready', status: 'False', Reason: 'ContainersNotReady', Message: 'No container has been reported ready.', lastTransitionTime: g.statusTime },
    ],
    ContainerStatuses: g.containers.map((c) => ({
      Name: c.Name,
      Image: c.Image,
      ImageID: '',
      Ready: false,
      Started: false,
      RestartCount: 0,
      State:
        state.State === 'Waiting'
          ? { Waiting: { Reason: state.Reason, Message: state.Message } }
          : { Terminated: { Reason: state.Reason, Message: state.Message, ExitCode: 0, Signal: 0, StartedAt: '', FinishedAt: '', ContainerID: '' } },
      LastState: {},
    })),
  };
}

/** Guaranteed when every container has its own CPU and memory, Burstable otherwise (the group is always bounded). */
export function qosClass(containers: readonly Pick<ContainerSpec, 'Cpu' | 'Memory'>[]): 'Guaranteed' | 'Burstable' {
  return containers.length > 0 && containers.every((c) => c.Cpu > 0 && c.Memory > 0) ? 'Guaranteed' : 'Burstable';
}

// ---------------------------------------------------------------------------------------------------
// Sizing.

/** Group size when neither the request nor any container names one (the reference's default). */
export const DEFAULT_GROUP_CPU = 2;
export const DEFAULT_GROUP_MEMORY = 4;
export const MAX_GROUP_CPU = 64;
export const MAX_GROUP_MEMORY = 512;

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * What the containers need, as Kubernetes computes a pod's request: the larger of the sum over the
 * containers and the largest init container (init containers run one at a time, before the others).
 */
export function containersNeed(containers: readonly Pick<ContainerSpec, 'Cpu' | 'Memory'>[], inits: readonly Pick<ContainerSpec, 'Cpu' | 'Memory'>[]) {
  const sum = (k: 'Cpu' | 'Memory') => round3(containers.reduce((a, c) => a + c[k], 0));
  const max = (k: 'Cpu' | 'Memory') => inits.reduce((a, c) => Math.max(a, c[k]), 0);
  return { Cpu: Math.max(sum('Cpu'), max('Cpu')), Memory: Math.max(sum('Memory'), max('Memory')) };
}

/**
 * The group's size: as given, else what the containers need, else 2 vCPU / 4 GiB. Returns the problem in
 * words when the given size is smaller than the containers need.
 */
export function sizeGroup(
  given: { Cpu?: number; Memory?: number },
  need: { Cpu: number; Memory: number },
): { Cpu: number; Memory: number } | { error: string; field: 'Cpu' | 'Memory' } {
  const cpu = given.Cpu ?? (need.Cpu > 0 ? need.Cpu : DEFAULT_GROUP_CPU);
  const memory = given.Memory ?? (need.Memory > 0 ? need.Memory : DEFAULT_GROUP_MEMORY);
  if (cpu < need.Cpu) return { field: 'Cpu', error: `The group's Cpu ${cpu} is less than its containers need (${need.Cpu} vCPU).` };
  if (memory < need.Memory) return { field: 'Memory', error: `The group's Memory ${memory} GiB is less than its containers need (${need.Memory} GiB).` };
  if (cpu > MAX_GROUP_CPU) return { field: 'Cpu', error: `A container group has at most ${MAX_GROUP_CPU} vCPU.` };
  if (memory > MAX_GROUP_MEMORY) return { field: 'Memory', error: `A container group has at most ${MAX_GROUP_MEMORY} GiB.` };
  return { Cpu: cpu, Memory: memory };
}

/** Parses a `<vCPU>-<memory>Gi` spec (eci-use-specs style, `2-4Gi`, `0.5-1Gi`); undefined for an ECS type name. */
export function parseSizeSpec(text: string): { Cpu: number; Memory: number } | undefined {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)Gi$/.exec(text.trim());
  if (!m) return undefined;
  const spec = { Cpu: Number(m[1]), Memory: Number(m[2]) };
  return spec.Cpu > 0 && spec.Memory > 0 ? spec : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Validators. Each returns true when the value is acceptable; callers choose the error code.

/** Container group names: 2–128 of [a-z0-9-], no leading or trailing '-'. */
export const GROUP_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,126}[a-z0-9]$/;
export const GROUP_NAME_HINT = 'use 2 to 128 lowercase letters, digits and hyphens, not starting or ending with a hyphen';

/**
 * Container and volume names: the same alphabet, but one character is allowed, because Kubernetes
 * container and volume names (DNS labels) may be that short and the virtual node passes them through.
 */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,126}[a-z0-9])?$/;
export const NAME_HINT = 'use 1 to 128 lowercase letters, digits and hyphens, not starting or ending with a hyphen';

/** RFC 1123 host name: dot-separated labels of [a-z0-9-], at most 253 characters. */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split('.').every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

export const isIpv4 = (s: string): boolean => parseIp(s) !== undefined;

export const isAbsolutePath = (s: string): boolean => s.startsWith('/') && !s.includes('\0') && !s.split('/').includes('..');

/** A path relative to a mount point that cannot climb out of it. */
export const isContainedRelativePath = (s: string): boolean =>
  s.length > 0 && !s.startsWith('/') && !s.includes('\0') && !s.split('/').includes('..');

/** Strict base64 (RFC 4648 alphabet, padded); returns the decoded bytes or undefined. */
export function decodeBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64') === s ? bytes : undefined;
}

/** A Kubernetes quantity such as `256Mi`, `1G`, `500000`. */
export const isQuantity = (s: string): boolean => /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(s);

/** Downward-API fields an environment variable may reference. */
const FIELD_PATHS = new Set(['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs']);

export const isFieldPath = (s: string): boolean => FIELD_PATHS.has(s) || /^metadata\.(labels|annotations)\['[^']+'\]$/.test(s);

/**
 * Capabilities a tenant may add: the container runtime's default set plus the few that act only inside
 * the group's own namespaces. Anything reaching the shared host (SYS_ADMIN, SYS_MODULE, SYS_TIME…) is refused.
 */
const CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'NET_RAW', 'SETFCAP',
  'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT', 'NET_ADMIN', 'SYS_PTRACE', 'IPC_LOCK', 'SYS_RESOURCE', 'SYS_NICE',
]);

export function normalizeCapability(s: string): string | undefined {
  const name = s.toUpperCase().replace(/^CAP_/, '');
  return CAPABILITIES.has(name) ? name : undefined;
}

/** Sysctls isolated per network/IPC namespace, which a group may set without touching the host. */
export const isNamespacedSysctl = (name: string): boolean =>
  /^net\.[a-z0-9_.\-/]+$/.test(name) || /^kernel\.(shm[a-z_]+|msg[a-z_]+|sem)$/.test(name) || /^fs\.mqueue\.[a-z_]+$/.test(name);

/** Merges `updates` into `base` by key: an update replaces the item with its key, new keys append. */
export function mergeByKey<T>(base: readonly T[], updates: readonly T[], key: (t: T) => string): T[] {
  const out = [...base];
  for (const u of updates) {
    const i = out.findIndex((b) => key(b) === key(u));
    if (i >= 0) out[i] = u;
    else out.push(u);
  }
  return out;
}
