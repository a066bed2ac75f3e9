// The container runtime port the agent loop (and the pure lifecycle module) drive, and its runc
// implementation. The lifecycle decides WHEN (restart policy, back-off, init order, probes); this port
// only does one thing at a time to one container run, and reports what the kernel says.
//
// State layout under the host's state dir (everything of a group under one directory, so removing a
// group is one rmdir after the mounts are gone):
//   images/busybox/rootfs                         the built-in image (read-only lower layer)
//   runc/                                          runc --root (unless RuncRuntimeOptions.runcRoot)
//   groups/<groupId>/etc/{hosts,resolv.conf,hostname}
//   groups/<groupId>/volumes/<volume>/
//   groups/<groupId>/logs/<container>/<run>.log[.N]
//   groups/<groupId>/containers/<container>/      the OCI bundle: config.json, rootfs (overlay), upper,
//                                                  work; shim files: run, pid, exit, shim.pid, runc.log
// The runc container id is `<groupId>.<container name>`.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerGroupData, ContainerSpec, DnsConfigSpec } from '../../core/model.ts';
import { BUSYBOX_BINARY, resolveImage, type ImageConfig } from './busybox-image.ts';
import { parseImageReference } from '../../core/image-reference.ts';
import { CPU_PERIOD_US, cgroupsPathFor, cpuQuotaUs, groupCgroupPath, memoryLimitBytes, renderBundleConfig, resolveImageUser } from './bundle.ts';
import { ensureGroupFiles, groupFilePaths, parseResolvConf, removeGroupFiles } from './files.ts';
import { DEFAULT_LOG_POLICY, pruneRunLogs, readContainerLog, runLogFile, type LogPolicy, type LogQuery } from './logs.ts';
import { mountRootfs, removeRootfs, rootfsPaths } from './rootfs.ts';
import {
  ensureGroupCgroup,
  lastRuncError,
  pidAlive,
  readExit,
  readPid,
  removeCgroupTree,
  shimAlive,
  runcDelete,
  runcExec,
  runcExecStream,
  type ExecStream,
  runcKill,
  runcState,
  shimFiles,
  startShim,
  waitExit,
  type ExecOutput,
} from './runc.ts';

export type { ExecOutput, ExecStream } from './runc.ts';
export type { LogQuery } from './logs.ts';

export interface ContainerRunStatus {
  readonly groupId: string;
  readonly name: string;
  /** running: the process runs; exited: the run ended; absent: no run was ever started on this host. */
  readonly state: 'running' | 'exited' | 'absent';
  /** 0 for the first run; RestartCount = run. */
  readonly run: number;
  /** The image the run started from (imageIdOf); absent for the built-in image or no run. */
  readonly imageId?: string;
  readonly pid?: number;
  readonly startedAt?: string;
  /** Exited only: the process's code, 128+N when killed by signal N, -1 when unknown (the shim was lost). */
  readonly exitCode?: number;
  readonly finishedAt?: string;
  /** Exited only: Completed | Error | OOMKilled | StartError | Unknown. */
  readonly reason?: string;
  readonly message?: string;
}

export interface StartRequest {
  readonly group: ContainerGroupData;
  readonly container: ContainerSpec;
  /** The instance's network namespace, e.g. `/var/run/netns/<name>`. */
  readonly netnsPath: string;
  /** The run number: 0 first, previous + 1 on a restart (the previous run's log stays for LastTime). */
  readonly run: number;
}

/**
 * Contracts shared by every implementation:
 * - Methods may be called again after a crash of the caller; each is idempotent where its name says so.
 * - `start` requires `prepareGroup` for the group and no running run of that container; it resolves once
 *   the process runs or the run has already ended (then the status says exited, with StartError when the
 *   process never ran). An unknown image throws ImageNotFoundError (a Failed pull).
 * - `stop` sends SIGTERM, waits up to graceSeconds, then SIGKILL; stopping an exited container returns its
 *   status unchanged.
 * - Containers survive the caller: a new runtime object over the same state dir reports them (adoption).
 */
export interface ContainerRuntime {
  /** Idempotent: the group's shared files, volumes and parent cgroup (limits). */
  prepareGroup(group: ContainerGroupData): Promise<void>;
  start(req: StartRequest): Promise<ContainerRunStatus>;
  state(groupId: string, name: string): Promise<ContainerRunStatus>;
  stop(groupId: string, name: string, graceSeconds: number): Promise<ContainerRunStatus>;
  exec(groupId: string, name: string, argv: readonly string[], timeoutMs: number): Promise<ExecOutput>;
  /** An interactive exec (ExecContainerCommand without Sync): streams, optionally on a terminal. */
  execStream(groupId: string, name: string, argv: readonly string[], tty: boolean): ExecStream;
  /** DescribeContainerLog; LastTime with no previous run throws LogNotFoundError. */
  logs(groupId: string, name: string, query: LogQuery): Promise<string>;
  /** Kills a running run, then removes the container's runc state and rootfs; keeps its logs. Idempotent. */
  removeContainer(groupId: string, name: string): Promise<void>;
  /** Kills every container of the group and removes all it had: files, volumes, logs, mounts, cgroups. Idempotent. */
  removeGroup(groupId: string): Promise<void>;
  /** Every container this host has state for (runc or disk): the adoption list after a restart. */
  list(): Promise<{ groupId: string; name: string }[]>;
}

/**
 * Where a container's image comes from at start: a local lookup only (pulls happen before, driven by the
 * agent: pulls.ts). `resolve` throws ImageNotFoundError for an image the host does not have.
 */
export interface ImageSource {
  resolve(name: string): ImageConfig;
  /** Keeps the image (by digest) while `holder` (a container) exists: the store's GC never removes it. */
  lease(digest: string, holder: string): void;
  release(holder: string): void;
}

/** Only the built-in busybox image (no image store). */
export function builtinImageSource(stateDir: string): ImageSource {
  return { resolve: (name) => resolveImage(stateDir, name), lease: () => undefined, release: () => undefined };
}

export interface RuncRuntimeOptions {
  readonly stateDir: string;
  /** Default: builtinImageSource(stateDir). */
  readonly images?: ImageSource;
  readonly hostId: string;
  /** Default `<stateDir>/runc`. */
  readonly runcRoot?: string;
  readonly hostIp?: string;
  readonly nodeName?: string;
  readonly logPolicy?: LogPolicy;
  /** The resolver DnsPolicy '' and Default start from; default: the host's /etc/resolv.conf. */
  readonly hostResolvConf?: DnsConfigSpec;
  /** How long `start` waits for runc to start the process. */
  readonly startTimeoutMs?: number;
}

interface RunRecord {
  run: number;
  startedAt: string;
  /** The image the run started from, as Kubernetes' imageID (`registry/repo@sha256:…`); '' for the built-in image. */
  imageId?: string;
}

/** Kubernetes' imageID of a run: the repository the image was named by, at the manifest digest it ran. */
export function imageIdOf(name: string, digest: string): string {
  if (!digest) return '';
  try {
    const ref = parseImageReference(name);
    return `${ref.registry}/${ref.repository}@${digest}`;
  } catch {
    return digest;
  }
}

export const runcContainerId = (groupId: string, name: string): string => `${groupId}.${name}`;

/**
 * What this host lacks to run containers, as sentences for the operator (empty when nothing): checked by
 * the agent at start-up so a missing tool is one clear message, not a failed container later.
 */
export function checkRuntimeHost(): string[] {
  const problems: string[] = [];
  const has = (argv: string[]) => spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' }).status === 0;
  if (!has(['runc', '--version'])) problems.push('runc is missing: install the runc package (scripts/setup.sh).');
  if (!has(['bash', '-c', '[[ -n $EPOCHREALTIME ]]'])) problems.push('bash 5 (for $EPOCHREALTIME) is missing: the container shim needs it.');
  if (!has(['script', '--version'])) problems.push('util-linux script is missing: install the bsdutils package (interactive exec with TTY needs it).');
  if (!has(['perl', '-MTime::HiRes', '-MPOSIX', '-e', '1'])) problems.push('perl with Time::HiRes is missing: install the perl package (the log writer needs it).');
  if (!existsSync(BUSYBOX_BINARY)) problems.push(`${BUSYBOX_BINARY} is missing: install busybox-static (the built-in busybox image).`);
  const filesystems = existsSync('/proc/filesystems') ? readFileSync('/proc/filesystems', 'utf8') : '';
  if (!/\boverlay\b/.test(filesystems)) problems.push('The kernel has no overlayfs: container root filesystems need it.');
  for (const c of ['memory', 'cpu'])
    if (!existsSync(`/sys/fs/cgroup/${c}/cgroup.procs`)) problems.push(`The cgroup v1 ${c} controller is not mounted at /sys/fs/cgroup/${c}: CPU and memory limits need it.`);
  return problems;
}

/** A file of an image's root filesystem, read through its overlay lower layers (top first), before any mount. */
function readImageFile(lowerdir: string, path: string): string | undefined {
  for (const layer of lowerdir.split(':')) {
    const file = join(layer, path);
    if (existsSync(file)) {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return undefined; // a whiteout (a character device) hides the file
      }
    }
  }
  return undefined;
}

export class RuncRuntime implements ContainerRuntime {
  readonly stateDir: string;
  readonly hostId: string;
  readonly runcRoot: string;
  readonly hostIp: string;
  readonly nodeName: string;
  readonly logPolicy: LogPolicy;
  readonly startTimeoutMs: number;
  readonly images: ImageSource;
  readonly #hostResolvConf: DnsConfigSpec;

  constructor(opts: RuncRuntimeOptions) {
    this.stateDir = opts.stateDir;
    this.hostId = opts.hostId;
    this.runcRoot = opts.runcRoot ?? join(opts.stateDir, 'runc');
    this.hostIp = opts.hostIp ?? '';
    this.nodeName = opts.nodeName ?? opts.hostId;
    this.logPolicy = opts.logPolicy ?? DEFAULT_LOG_POLICY;
    this.startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    this.images = opts.images ?? builtinImageSource(opts.stateDir);
    this.#hostResolvConf = opts.hostResolvConf ?? parseResolvConf(existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : '');
    mkdirSync(this.runcRoot, { recursive: true });
  }

  groupDir(groupId: string): string {
    return join(this.stateDir, 'groups', groupId);
  }

  containerDir(groupId: string, name: string): string {
    return join(this.groupDir(groupId), 'containers', name);
  }

  logDir(groupId: string, name: string): string {
    return join(this.groupDir(groupId), 'logs', name);
  }

  async prepareGroup(group: ContainerGroupData): Promise<void> {
    await ensureGroupFiles(this.groupDir(group.ContainerGroupId), group, this.#hostResolvConf);
    ensureGroupCgroup(groupCgroupPath(this.hostId, group.ContainerGroupId), {
      memoryBytes: group.Memory > 0 ? memoryLimitBytes(group.Memory) : 0,
      cpuQuotaUs: group.Cpu > 0 ? cpuQuotaUs(group.Cpu) : 0,
      cpuPeriodUs: CPU_PERIOD_US,
    });
  }

  async start(req: StartRequest): Promise<ContainerRunStatus> {
    const groupId = req.group.ContainerGroupId;
    const name = req.container.Name;
    const dir = this.containerDir(groupId, name);
    const image = this.images.resolve(req.container.Image);
    const imageUser = resolveImageUser(image.user, (f) => readImageFile(image.rootfs, `etc/${f}`));
    const current = await this.state(groupId, name);
    if (current.state === 'running') throw new Error(`Container ${name} of ${groupId} is already running (run ${current.run}); stop it first.`);
    // A restarted container gets a fresh writable layer, as in Kubernetes; a stale runc state of a run
    // whose shim died is cleared first (runc keeps a state directory per container under its root).
    const id = runcContainerId(groupId, name);
    const files = groupFilePaths(this.groupDir(groupId), req.group);
    // Rendered before anything is mounted: a spec the renderer refuses leaves nothing to undo.
    const config = renderBundleConfig({
      group: req.group,
      container: req.container,
      image,
      hostId: this.hostId,
      hostIp: this.hostIp,
      nodeName: this.nodeName,
      rootfs: rootfsPaths(dir).merged,
      netnsPath: req.netnsPath,
      ...files,
      ...(imageUser ? { imageUser } : {}),
    });
    if (existsSync(join(this.runcRoot, id))) await runcDelete(this.runcRoot, id);
    await removeRootfs(dir);
    mkdirSync(dir, { recursive: true });
    if (image.digest) this.images.lease(image.digest, id);
    await mountRootfs(image.rootfs, dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    const logDir = this.logDir(groupId, name);
    mkdirSync(logDir, { recursive: true });
    pruneRunLogs(logDir, req.run - 1);
    rmSync(runLogFile(logDir, req.run), { force: true });
    const record: RunRecord = { run: req.run, startedAt: new Date().toISOString(), imageId: imageIdOf(req.container.Image, image.digest) };
    writeFileSync(join(dir, 'run'), JSON.stringify(record));
    await startShim(
      {
        root: this.runcRoot,
        bundle: dir,
        id,
        cgroupsPath: config.linux.cgroupsPath,
        containerDir: dir,
        logFile: runLogFile(logDir, req.run),
        maxLogBytes: this.logPolicy.maxBytes,
        keepLogs: this.logPolicy.keep,
      },
      this.startTimeoutMs,
    );
    return this.state(groupId, name);
  }

  async state(groupId: string, name: string): Promise<ContainerRunStatus> {
    const dir = this.containerDir(groupId, name);
    let record: RunRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, 'run'), 'utf8')) as RunRecord;
    } catch {
      return { groupId, name, state: 'absent', run: 0 };
    }
    const base = { groupId, name, run: record.run, startedAt: record.startedAt, ...(record.imageId ? { imageId: record.imageId } : {}) };
    const f = shimFiles(dir);
    const pid = readPid(f.pid);
    const exited = readExit(dir);
    if (exited) {
      if (pid === null)
        return { ...base, state: 'exited', exitCode: exited.exitCode, finishedAt: exited.finishedAt, reason: 'StartError', message: lastRuncError(dir) || `runc exited ${exited.exitCode} before the process ran.` };
      const oom = exited.exitCode !== 0 && exited.oomKilled;
      return { ...base, state: 'exited', pid, exitCode: exited.exitCode, finishedAt: exited.finishedAt, reason: oom ? 'OOMKilled' : exited.exitCode === 0 ? 'Completed' : 'Error' };
    }
    if (shimAlive(dir, runcContainerId(groupId, name))) return { ...base, state: 'running', ...(pid !== null ? { pid } : {}) };
    // The shim is gone without recording an exit (killed, or the host rebooted): trust runc and the PID.
    const rs = await runcState(this.runcRoot, runcContainerId(groupId, name));
    if (rs && rs.status === 'running' && pidAlive(rs.pid)) return { ...base, state: 'running', pid: rs.pid };
    return { ...base, state: 'exited', exitCode: -1, finishedAt: '', reason: 'Unknown', message: 'The container\'s shim was lost; its exit code is unknown.' };
  }

  async stop(groupId: string, name: string, graceSeconds: number): Promise<ContainerRunStatus> {
    const id = runcContainerId(groupId, name);
    const dir = this.containerDir(groupId, name);
    let status = await this.state(groupId, name);
    if (status.state !== 'running') return status;
    if (graceSeconds > 0 && (await runcKill(this.runcRoot, id, 'TERM'))) {
      await this.#waitStopped(dir, id, graceSeconds * 1000);
      status = await this.state(groupId, name);
      if (status.state !== 'running') return status;
    }
    await runcKill(this.runcRoot, id, 'KILL');
    await this.#waitStopped(dir, id, 10_000);
    return this.state(groupId, name);
  }

  async #waitStopped(dir: string, id: string, timeoutMs: number): Promise<void> {
    if (shimAlive(dir, id)) {
      await waitExit(dir, timeoutMs);
      return;
    }
    // Orphaned by a lost shim: poll the PID.
    const deadline = Date.now() + timeoutMs;
    const pid = readPid(shimFiles(dir).pid);
    while (pid !== null && pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  async exec(groupId: string, name: string, argv: readonly string[], timeoutMs: number): Promise<ExecOutput> {
    return runcExec(this.runcRoot, runcContainerId(groupId, name), argv, { timeoutMs, pidDir: this.containerDir(groupId, name) });
  }

  execStream(groupId: string, name: string, argv: readonly string[], tty: boolean): ExecStream {
    return runcExecStream(this.runcRoot, runcContainerId(groupId, name), argv, { tty, pidDir: this.containerDir(groupId, name) });
  }

  async logs(groupId: string, name: string, query: LogQuery): Promise<string> {
    const status = await this.state(groupId, name);
    return readContainerLog(this.logDir(groupId, name), status.run, query, Date.now());
  }

  async removeContainer(groupId: string, name: string): Promise<void> {
    const dir = this.containerDir(groupId, name);
    await this.stop(groupId, name, 0);
    const id = runcContainerId(groupId, name);
    if (existsSync(join(this.runcRoot, id))) await runcDelete(this.runcRoot, id);
    await removeRootfs(dir);
    rmSync(dir, { recursive: true, force: true });
    this.images.release(id);
    removeCgroupTree(cgroupsPathFor(this.hostId, groupId, name));
  }

  async removeGroup(groupId: string): Promise<void> {
    const names = new Set<string>();
    const containers = join(this.groupDir(groupId), 'containers');
    if (existsSync(containers)) for (const n of readdirSync(containers)) names.add(n);
    for (const c of await this.list()) if (c.groupId === groupId) names.add(c.name);
    await Promise.all([...names].map((n) => this.removeContainer(groupId, n)));
    await removeGroupFiles(this.groupDir(groupId));
    removeCgroupTree(groupCgroupPath(this.hostId, groupId));
  }

  async list(): Promise<{ groupId: string; name: string }[]> {
    const seen = new Map<string, { groupId: string; name: string }>();
    // runc keeps one state directory per container under its root: reading it is `runc list` without a spawn.
    for (const id of existsSync(this.runcRoot) ? readdirSync(this.runcRoot) : []) {
      const dot = id.indexOf('.');
      if (dot > 0) seen.set(id, { groupId: id.slice(0, dot), name: id.slice(dot + 1) });
    }
    const groups = join(this.stateDir, 'groups');
    if (existsSync(groups))
      for (const g of readdirSync(groups)) {
        const containers = join(groups, g, 'containers');
        if (existsSync(containers)) for (const n of readdirSync(containers)) seen.set(runcContainerId(g, n), { groupId: g, name: n });
      }
    return [...seen.values()];
  }
}
