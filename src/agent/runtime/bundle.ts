// Renders the OCI runtime config (`config.json`) of one container from the group spec. Pure: every path
// and host fact comes in through BundleInput, so the whole mapping is table-tested without a kernel.
//
// Choices:
// - cgroups: this host has hybrid cgroups v1 and runc 1.1 without systemd, so cgroupsPath is a cgroupfs
//   path, absolute so that it does not depend on the agent's own cgroup: `/eci/<host>/<group>/<container>`.
//   The `/eci/<host>/<group>` parent carries the group's own limits (see runc.ts ensureGroupCgroup).
// - The network namespace is the instance's netns by path; runc joins it, so runc itself runs in the
//   agent's namespace (never under `ip netns exec`, which hides the cgroup mounts).
// - Capabilities: the container runtime default set (Docker/containerd) plus SecurityContext adds, in
//   bounding/effective/permitted; noNewPrivileges is always on.

import type { ContainerGroupData, ContainerSpec } from '../../core/model.ts';
import type { ImageConfig } from './busybox-image.ts';
import { shortId } from '../net/names.ts';

export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** CFS period; quota = Cpu × period. 100 ms is the kernel's and Kubernetes' default. */
export const CPU_PERIOD_US = 100_000;
const GIB = 1024 * 1024 * 1024;

export interface BundleInput {
  readonly group: ContainerGroupData;
  readonly container: ContainerSpec;
  readonly image: ImageConfig;
  readonly hostId: string;
  /** The host's address for status.hostIP / spec.nodeName; '' when unknown. */
  readonly hostIp: string;
  readonly nodeName: string;
  /** The container's mounted overlayfs root. */
  readonly rootfs: string;
  /** `/var/run/netns/<name>` of the instance. */
  readonly netnsPath: string;
  /** Per-group files bind-mounted over /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  readonly hostsFile: string;
  readonly resolvConfFile: string;
  readonly hostnameFile: string;
  /** Volume name → the host directory holding it. */
  readonly volumeDirs: Readonly<Record<string, string>>;
  /** The image's USER resolved to ids (resolveImageUser); absent = root. RunAsUser/RunAsGroup override it. */
  readonly imageUser?: { readonly uid: number; readonly gid: number };
}

/**
 * The image's USER (`name`, `uid`, `name:group`, `uid:gid`) as ids, names looked up in the image's own
 * /etc/passwd and /etc/group (`readEtc` gives a file of the image, or undefined). Unknown names are an error,
 * as in Docker ("unable to find user").
 */
export function resolveImageUser(user: string, readEtc: (file: 'passwd' | 'group') => string | undefined): { uid: number; gid: number } | undefined {
  if (!user) return undefined;
  const [u, g] = user.split(':', 2);
  const table = (file: 'passwd' | 'group') =>
    (readEtc(file) ?? '')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = table('passwd').find((r) => r[2] === u);
    gid = row ? Number(row[3]) : 0;
  } else {
    const row = table('passwd').find((r) => r[0] === u);
    if (!row) throw new Error(`unable to find user ${u}: no matching entries in the image's /etc/passwd`);
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = table('group').find((r) => r[0] === g);
      if (!row) throw new Error(`unable to find group ${g}: no matching entries in the image's /etc/group`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}

/** The subset of the OCI runtime spec we render (runtime-spec 1.0.2). */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    cgroupsPath: string;
    namespaces: { type: string; path?: string }[];
    resources: {
      devices: { allow: boolean; access: string }[];
      memory?: { limit: number };
      cpu?: { quota: number; period: number };
    };
    sysctl: Record<string, string>;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

export function cgroupsPathFor(hostId: string, groupId: string, containerName: string): string {
  return `${groupCgroupPath(hostId, groupId)}/${containerName}`;
}

export function groupCgroupPath(hostId: string, groupId: string): string {
  return `${hostCgroupPath(hostId)}/${groupId}`;
}

/** Everything of one host; removed only when the host itself is torn down (tests, uninstall). */
export function hostCgroupPath(hostId: string): string {
  return `/eci/${shortId(hostId)}`;
}

/** The hostname a group's containers see: HostName, else the group name (cut to the kernel's 64). */
export function groupHostname(group: Pick<ContainerGroupData, 'HostName' | 'ContainerGroupName'>): string {
  return (group.HostName || group.ContainerGroupName).slice(0, 63);
}

export function memoryLimitBytes(gib: number): number {
  return Math.round(gib * GIB);
}

export function cpuQuotaUs(cpu: number): number {
  return Math.max(1000, Math.round(cpu * CPU_PERIOD_US));
}

/** Resolves a downward-API field; unknown fields (labels, annotations: not modelled) resolve to ''. */
export function resolveFieldPath(input: Pick<BundleInput, 'group' | 'hostIp' | 'nodeName'>, fieldPath: string): string {
  const g = input.group;
  switch (fieldPath) {
    case 'status.podIP':
    case 'status.podIPs':
      return g.IntranetIp;
    case 'status.hostIP':
    case 'status.hostIPs':
      return input.hostIp;
    case 'metadata.name':
      return g.ContainerGroupName;
    case 'metadata.uid':
      return g.ContainerGroupId;
    case 'metadata.namespace':
      return 'default';
    case 'spec.nodeName':
      return input.nodeName;
    case 'spec.serviceAccountName':
      return 'default';
    default:
      return '';
  }
}

/**
 * Process args as Kubernetes composes them: Commands replace the image's ENTRYPOINT (and drop its CMD),
 * Args replace its CMD. Nothing to run at all is an error the start reports.
 */
export function processArgs(container: ContainerSpec, image: ImageConfig): string[] {
  const args = container.Commands.length
    ? [...container.Commands, ...container.Args]
    : [...image.entrypoint, ...(container.Args.length ? container.Args : image.cmd)];
  if (!args.length) throw new Error(`Container ${container.Name} has no command: the image ${image.name} has no ENTRYPOINT or CMD and the container gives no Commands.`);
  return args;
}

/** Env in override order: image env, PATH/HOSTNAME defaults, then the container's own variables (last wins). */
export function processEnv(input: BundleInput): string[] {
  const env = new Map<string, string>();
  env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  for (const kv of input.image.env) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  env.set('HOSTNAME', groupHostname(input.group));
  for (const e of input.container.EnvironmentVars) env.set(e.Key, e.FieldPath ? resolveFieldPath(input, e.FieldPath) : e.Value);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

function volumeMounts(input: BundleInput): OciSpec['mounts'] {
  return input.container.VolumeMounts.map((m) => {
    const dir = input.volumeDirs[m.Name];
    if (dir === undefined) throw new Error(`Container ${input.container.Name} mounts the volume "${m.Name}", which the group does not declare.`);
    const source = m.SubPath ? `${dir}/${m.SubPath.replace(/^\/+/, '')}` : dir;
    const propagation = m.MountPropagation === 'Bidirectional' ? 'rshared' : m.MountPropagation === 'HostToContainer' ? 'rslave' : 'rprivate';
    return { destination: m.MountPath, type: 'bind', source, options: ['rbind', propagation, ...(m.ReadOnly ? ['ro'] : [])] };
  });
}

export function renderBundleConfig(input: BundleInput): OciSpec {
  const { group, container } = input;
  const caps = [...new Set([...DEFAULT_CAPABILITIES, ...container.SecurityContext.CapabilityAdds.map((c) => `CAP_${c.replace(/^CAP_/, '')}`)])];
  const resources: OciSpec['linux']['resources'] = { devices: [{ allow: false, access: 'rwm' }] };
  if (container.Memory > 0) resources.memory = { limit: memoryLimitBytes(container.Memory) };
  if (container.Cpu > 0) resources.cpu = { quota: cpuQuotaUs(container.Cpu), period: CPU_PERIOD_US };
  const sysctl: Record<string, string> = {};
  for (const s of group.Sysctls) sysctl[s.Name] = s.Value;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: {
        uid: container.SecurityContext.RunAsUser ?? input.imageUser?.uid ?? 0,
        gid: container.SecurityContext.RunAsGroup ?? input.imageUser?.gid ?? 0,
      },
      args: processArgs(container, input.image),
      env: processEnv(input),
      cwd: container.WorkingDir || input.image.workingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: container.SecurityContext.ReadOnlyRootFilesystem },
    hostname: groupHostname(group),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: input.hostsFile, options: ['rbind', 'rprivate'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: input.resolvConfFile, options: ['rbind', 'rprivate'] },
      { destination: '/etc/hostname', type: 'bind', source: input.hostnameFile, options: ['rbind', 'rprivate'] },
      ...volumeMounts(input),
    ],
    linux: {
      cgroupsPath: cgroupsPathFor(input.hostId, group.ContainerGroupId, container.Name),
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: input.netnsPath }],
      resources,
      sysctl,
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
        '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
