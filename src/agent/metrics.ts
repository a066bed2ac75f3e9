// The agent's metric sampler: every interval it reads the cgroups (v1) of each group this host runs and
// the interface counters of the group's instance netns, and keeps the last `capacity` samples per group
// in memory (DescribeContainerGroupMetric reads them through the agent API's /v1/metrics).
//
// Contracts:
// - The groups sampled are those with a cgroup under the host's `/eci/<host>` in the cpuacct hierarchy
//   (runc makes `/eci/<host>/<group>/<container>` for every run), so the sampler needs no store access.
//   A group whose cgroup is gone loses its ring.
// - Samples are history only: an agent restart starts with empty rings (ECI keeps metrics in a
//   monitoring service; OpenECI keeps `capacity × interval` of them, 15 minutes by default).
// - Sampling is serialized (one at a time), so rates are always between consecutive samples.

import { readdirSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import {
  cpuLimitMillicores,
  cpuRateNanoCores,
  memoryLimit,
  memoryMetric,
  parseCounter,
  parseIpLinkStats,
  parseMemoryStat,
  type ContainerMetric,
  type CpuMetric,
  type InterfaceMetric,
  type MemoryMetric,
  type MetricRecord,
} from '../core/metrics.ts';
import { rfc3339 } from '../core/time.ts';
import { json, listNetns } from './net/exec.ts';
import { instanceNetnsName } from './net/names.ts';
import { groupCgroupPath, hostCgroupPath } from './runtime/bundle.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
export const METRIC_INTERVAL_MS = 15_000;
export const METRIC_CAPACITY = 60;
/** An on-demand read newer than this reuses the last sample instead of taking one. */
const FRESH_MS = 1000;
/** On demand, the gap between two samples when a group has none yet (UsageNanoCores needs two). */
const RATE_GAP_MS = 500;

export interface MetricsSampler {
  /** The group's samples, oldest first, after a fresh one when the newest is older than a second. */
  records(groupId: string): Promise<MetricRecord[]>;
  /** Takes one sample of every group now (the timer does this every interval). */
  sampleAll(): Promise<void>;
  stop(): void;
}

interface Ring {
  records: MetricRecord[];
  lastAtMs: number;
  /** Previous cumulative CPU reading per cgroup ('' = the group, else the container name). */
  cpu: Map<string, { atMs: number; usageNs: number }>;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const counter = (controller: string, cgroup: string, file: string): number | undefined => {
  const t = readText(join(CGROUP_ROOT, controller, cgroup, file));
  return t === undefined ? undefined : parseCounter(t);
};

function subdirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

export function startMetricsSampler(opts: { hostId: string; intervalMs?: number; capacity?: number; log?: (line: string) => void }): MetricsSampler {
  const capacity = opts.capacity ?? METRIC_CAPACITY;
  const rings = new Map<string, Ring>();
  let chain: Promise<unknown> = Promise.resolve();
  /** Runs sampling work after the work before it (never two at once). */
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const p = chain.then(work, work);
    chain = p.catch(() => undefined);
    return p;
  };

  const cpuOf = (ring: Ring, key: string, cgroup: string, atMs: number, parentLimit?: number): CpuMetric | undefined => {
    const usageNs = counter('cpuacct', cgroup, 'cpuacct.usage');
    if (usageNs === undefined) return undefined;
    const cur = { atMs, usageNs };
    const rate = cpuRateNanoCores(ring.cpu.get(key), cur);
    ring.cpu.set(key, cur);
    const limit = cpuLimitMillicores(counter('cpu', cgroup, 'cpu.cfs_quota_us'), counter('cpu', cgroup, 'cpu.cfs_period_us')) ?? parentLimit;
    return { ...(limit !== undefined ? { Limit: limit } : {}), UsageCoreNanoSeconds: usageNs, ...(rate !== undefined ? { UsageNanoCores: rate } : {}) };
  };

  const memoryOf = (cgroup: string, parentLimits: readonly (number | undefined)[]): MemoryMetric | undefined => {
    const usage = counter('memory', cgroup, 'memory.usage_in_bytes');
    if (usage === undefined) return undefined;
    const stat = parseMemoryStat(readText(join(CGROUP_ROOT, 'memory', cgroup, 'memory.stat')) ?? '');
    return memoryMetric(usage, stat, [memoryLimit(counter('memory', cgroup, 'memory.limit_in_bytes')), ...parentLimits]);
  };

  const interfacesOf = async (groupId: string, namespaces: readonly string[]): Promise<InterfaceMetric[]> => {
    const ns = instanceNetnsName(opts.hostId, groupId);
    if (!namespaces.includes(ns)) return [];
    try {
      return parseIpLinkStats(await json(null, ['ip', '-n', ns, '-s', '-j', 'link', 'show']));
    } catch {
      return [];
    }
  };

  const sampleGroup = async (groupId: string, namespaces: readonly string[]): Promise<void> => {
    const cgroup = groupCgroupPath(opts.hostId, groupId);
    let ring = rings.get(groupId);
    if (!ring) rings.set(groupId, (ring = { records: [], lastAtMs: 0, cpu: new Map() }));
    const atMs = Date.now();
    const machine = totalmem();
    const groupMemLimit = memoryLimit(counter('memory', cgroup, 'memory.limit_in_bytes'));
    const cpu = cpuOf(ring, '', cgroup, atMs);
    const memory = memoryOf(cgroup, [machine]);
    if (!cpu || !memory) return;
    const containers: ContainerMetric[] = [];
    for (const name of subdirs(join(CGROUP_ROOT, 'cpuacct', cgroup))) {
      const c = cpuOf(ring, name, `${cgroup}/${name}`, atMs, cpu.Limit);
      const m = memoryOf(`${cgroup}/${name}`, [groupMemLimit, machine]);
      if (c && m) containers.push({ Name: name, CPU: c, Memory: m });
    }
    // Containers no longer running lose their previous reading (a new run starts a new counter).
    for (const key of [...ring.cpu.keys()]) if (key !== '' && !containers.some((c) => c.Name === key)) ring.cpu.delete(key);
    ring.records.push({
      Timestamp: rfc3339(new Date(atMs)),
      CPU: cpu,
      Memory: memory,
      Network: { Interfaces: await interfacesOf(groupId, namespaces) },
      Disk: [],
      Filesystem: [],
      Containers: containers,
    });
    ring.lastAtMs = atMs;
    if (ring.records.length > capacity) ring.records.splice(0, ring.records.length - capacity);
  };

  const localGroups = (): string[] => subdirs(join(CGROUP_ROOT, 'cpuacct', hostCgroupPath(opts.hostId)));

  const sampleAll = () =>
    serial(async () => {
      const groups = localGroups();
      for (const id of [...rings.keys()]) if (!groups.includes(id)) rings.delete(id);
      if (!groups.length) return;
      const namespaces = await listNetns().catch(() => [] as string[]);
      for (const id of groups) await sampleGroup(id, namespaces);
    });

  const timer = setInterval(() => void sampleAll().catch((e: unknown) => opts.log?.(`eci agent: metrics: ${e instanceof Error ? e.message : String(e)}`)), opts.intervalMs ?? METRIC_INTERVAL_MS);
  timer.unref();

  return {
    sampleAll,
    records: (groupId) =>
      serial(async () => {
        if (!localGroups().includes(groupId)) return rings.get(groupId)?.records.slice() ?? [];
        const namespaces = await listNetns().catch(() => [] as string[]);
        const ring = rings.get(groupId);
        if (!ring || Date.now() - ring.lastAtMs > FRESH_MS) await sampleGroup(groupId, namespaces);
        if ((rings.get(groupId)?.records.length ?? 0) < 2) {
          await new Promise((r) => setTimeout(r, RATE_GAP_MS));
          await sampleGroup(groupId, namespaces);
        }
        return rings.get(groupId)?.records.slice() ?? [];
      }),
    stop: () => clearInterval(timer),
  };
}
