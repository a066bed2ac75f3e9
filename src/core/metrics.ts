// Container group metrics (DescribeContainerGroupMetric): the pure half. The agent reads cgroup v1 files
// and the instance netns's interface counters (src/agent/metrics.ts); this module turns their text into
// the API's record shape and derives rates between two samples.
//
// Semantics (those of the kubelet / cAdvisor, which ECI's own numbers follow):
// - CPU.UsageCoreNanoSeconds: cumulative CPU time (cpuacct.usage). UsageNanoCores: its rate between two
//   consecutive samples (1e9 = one full core); absent on the first sample or after a counter reset (a
//   recreated cgroup). Limit: the CPU limit in millicores (cpu.cfs_quota_us / cpu.cfs_period_us × 1000).
//   Load is not reported: cgroup v1 keeps no per-cgroup load average.
// - Memory.UsageBytes: memory.usage_in_bytes; Rss / Cache: total_rss / total_cache of memory.stat (the
//   hierarchy, so a group counts its containers); WorkingSet: usage − total_inactive_file (≥ 0);
//   AvailableBytes: limit − WorkingSet (≥ 0), where an unlimited cgroup is bounded by its parent or the
//   machine's memory.
// - Network.Interfaces: the instance namespace's interfaces except loopback, cumulative counters.

export interface CpuMetric {
  Limit?: number;
  UsageCoreNanoSeconds: number;
  UsageNanoCores?: number;
}

export interface MemoryMetric {
  AvailableBytes: number;
  Cache: number;
  Rss: number;
  UsageBytes: number;
  WorkingSet: number;
}

export interface InterfaceMetric {
  Name: string;
  RxBytes: number;
  RxPackets: number;
  RxErrors: number;
  RxDrops: number;
  TxBytes: number;
  TxPackets: number;
  TxErrors: number;
  TxDrops: number;
}

export interface ContainerMetric {
  Name: string;
  CPU: CpuMetric;
  Memory: MemoryMetric;
}

/** One sample of a group, as DescribeContainerGroupMetric answers it (Records[]). */
export interface MetricRecord {
  /** RFC 3339 UTC. */
  Timestamp: string;
  CPU: CpuMetric;
  Memory: MemoryMetric;
  Network: { Interfaces: InterfaceMetric[] };
  /** Not measured (block I/O of the runc rootfs is the host's disk): always empty, never invented. */
  Disk: never[];
  Filesystem: never[];
  Containers: ContainerMetric[];
}

/** cgroup v1 writes this (or a page-rounded value near 2^63) for "no limit". */
const UNLIMITED_FROM = 2 ** 60;

/** A single-number cgroup file (`cpuacct.usage`, `memory.usage_in_bytes`…); undefined when not a number. */
export function parseCounter(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return undefined;
  return Number(t);
}

/** `memory.stat` (`key value` lines) → map. Malformed lines are skipped. */
export function parseMemoryStat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** A memory limit, or undefined when the cgroup has none (-1 written, read back as ~2^63). */
export function memoryLimit(limitInBytes: number | undefined): number | undefined {
  if (limitInBytes === undefined || limitInBytes < 0 || limitInBytes >= UNLIMITED_FROM) return undefined;
  return limitInBytes;
}

/** Millicores from CFS quota and period; undefined when unlimited (quota -1) or unreadable. */
export function cpuLimitMillicores(quotaUs: number | undefined, periodUs: number | undefined): number | undefined {
  if (quotaUs === undefined || periodUs === undefined || quotaUs <= 0 || periodUs <= 0) return undefined;
  return Math.round((quotaUs / periodUs) * 1000);
}

/**
 * The Memory block from a cgroup's files. `limits` are candidates (the cgroup's own, its parent's, the
 * machine's); the smallest defined one bounds AvailableBytes.
 */
export function memoryMetric(usageInBytes: number, stat: ReadonlyMap<string, number>, limits: readonly (number | undefined)[]): MemoryMetric {
  const inactiveFile = stat.get('total_inactive_file') ?? stat.get('inactive_file') ?? 0;
  const workingSet = Math.max(0, usageInBytes - inactiveFile);
  const bounded = limits.filter((l): l is number => l !== undefined);
  const limit = bounded.length ? Math.min(...bounded) : undefined;
  return {
    AvailableBytes: limit === undefined ? 0 : Math.max(0, limit - workingSet),
    Cache: stat.get('total_cache') ?? stat.get('cache') ?? 0,
    Rss: stat.get('total_rss') ?? stat.get('rss') ?? 0,
    UsageBytes: usageInBytes,
    WorkingSet: workingSet,
  };
}

/**
 * CPU rate in nanocores between two cumulative readings taken `prevAtMs` and `atMs` apart. Undefined
 * when there is no earlier reading, no time passed, or the counter went backwards (the cgroup was
 * recreated: the difference means nothing).
 */
export function cpuRateNanoCores(prev: { atMs: number; usageNs: number } | undefined, cur: { atMs: number; usageNs: number }): number | undefined {
  if (!prev) return undefined;
  const dt = cur.atMs - prev.atMs;
  const du = cur.usageNs - prev.usageNs;
  if (dt <= 0 || du < 0) return undefined;
  // ns of CPU per ms of wall time × 1e3 = ns of CPU per s = nanocores.
  return Math.round((du / dt) * 1e3);
}

interface IpLinkEntry {
  ifname?: string;
  stats64?: { rx?: Record<string, number>; tx?: Record<string, number> };
  stats?: { rx?: Record<string, number>; tx?: Record<string, number> };
}

/** `ip -s -j link show` output → interface counters, loopback left out. */
export function parseIpLinkStats(links: readonly IpLinkEntry[]): InterfaceMetric[] {
  const out: InterfaceMetric[] = [];
  for (const l of links) {
    if (!l.ifname || l.ifname === 'lo') continue;
    const s = l.stats64 ?? l.stats;
    const rx = s?.rx ?? {};
    const tx = s?.tx ?? {};
    out.push({
      Name: l.ifname,
      RxBytes: rx.bytes ?? 0,
      RxPackets: rx.packets ?? 0,
      RxErrors: rx.errors ?? 0,
      RxDrops: rx.dropped ?? 0,
      TxBytes: tx.bytes ?? 0,
      TxPackets: tx.packets ?? 0,
      TxErrors: tx.errors ?? 0,
      TxDrops: tx.dropped ?? 0,
    });
  }
  return out;
}

/**
 * The records in [startMs, endMs] (both inclusive), oldest first; with `periodSec`, one record per
 * period bucket (aligned to the epoch): the latest of the bucket, as a monitoring system downsamples
 * gauges and cumulative counters alike.
 */
export function selectRecords(records: readonly MetricRecord[], startMs: number, endMs: number, periodSec?: number): MetricRecord[] {
  const inRange = records.filter((r) => {
    const t = Date.parse(r.Timestamp);
    return t >= startMs && t <= endMs;
  });
  if (!periodSec || periodSec <= 0) return inRange;
  const buckets = new Map<number, MetricRecord>();
  for (const r of inRange) buckets.set(Math.floor(Date.parse(r.Timestamp) / (periodSec * 1000)), r);
  return [...buckets.values()];
}
