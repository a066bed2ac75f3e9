import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cpuLimitMillicores,
  cpuRateNanoCores,
  memoryLimit,
  memoryMetric,
  parseCounter,
  parseIpLinkStats,
  parseMemoryStat,
  selectRecords,
  type MetricRecord,
} from '../../src/core/metrics.ts';

const MEMORY_STAT = `cache 4096
rss 1000
inactive_file 7
hierarchical_memory_limit 536870912
total_cache 67108864
total_rss 2097152
total_shmem 66060288
total_inactive_file 1048576
total_active_file 12
garbage line
`;

describe('metrics: cgroup file parsing', () => {
  for (const [text, want] of [
    ['123456789\n', 123456789],
    ['  42 ', 42],
    ['-1\n', -1],
    ['9223372036854771712\n', 9223372036854771712],
    ['', undefined],
    ['max\n', undefined],
    ['12 34', undefined],
  ] as const) {
    it(`counter ${JSON.stringify(text)} → ${want}`, () => assert.equal(parseCounter(text), want));
  }

  it('memory.stat keeps every key/number line and skips the rest', () => {
    const s = parseMemoryStat(MEMORY_STAT);
    assert.equal(s.get('total_rss'), 2097152);
    assert.equal(s.get('total_inactive_file'), 1048576);
    assert.equal(s.get('hierarchical_memory_limit'), 536870912);
    assert.equal(s.has('garbage'), false);
    assert.equal(s.size, 9);
  });

  for (const [raw, want] of [
    [536870912, 536870912],
    [9223372036854771712, undefined],
    [-1, undefined],
    [undefined, undefined],
  ] as const) {
    it(`memory limit ${raw} → ${want}`, () => assert.equal(memoryLimit(raw), want));
  }

  for (const [quota, period, want] of [
    [50_000, 100_000, 500],
    [200_000, 100_000, 2000],
    [33_333, 100_000, 333],
    [-1, 100_000, undefined],
    [undefined, 100_000, undefined],
    [50_000, 0, undefined],
  ] as const) {
    it(`cpu limit ${quota}/${period} → ${want} millicores`, () => assert.equal(cpuLimitMillicores(quota, period), want));
  }
});

describe('metrics: derivation', () => {
  it('memory: working set is usage minus inactive file; available is the tightest limit minus it', () => {
    const m = memoryMetric(70_000_000, parseMemoryStat(MEMORY_STAT), [undefined, 536870912, 16 * 2 ** 30]);
    assert.deepEqual(m, {
      UsageBytes: 70_000_000,
      WorkingSet: 70_000_000 - 1048576,
      Rss: 2097152,
      Cache: 67108864,
      AvailableBytes: 536870912 - (70_000_000 - 1048576),
    });
  });

  it('memory: working set never goes below zero, available never below zero, no limit → 0 available', () => {
    const stat = parseMemoryStat('total_inactive_file 500\n');
    assert.equal(memoryMetric(100, stat, [1000]).WorkingSet, 0);
    assert.equal(memoryMetric(100, stat, [1000]).AvailableBytes, 1000);
    assert.equal(memoryMetric(5000, parseMemoryStat(''), [1000]).AvailableBytes, 0);
    assert.equal(memoryMetric(5000, parseMemoryStat(''), [undefined]).AvailableBytes, 0);
    // Without total_* (a non-hierarchical stat), the cgroup's own counters are used.
    assert.deepEqual(memoryMetric(10_000, parseMemoryStat('cache 10\nrss 20\ninactive_file 30\n'), []), { UsageBytes: 10_000, WorkingSet: 9970, Rss: 20, Cache: 10, AvailableBytes: 0 });
  });

  for (const [name, prev, cur, want] of [
    ['one full core', { atMs: 0, usageNs: 0 }, { atMs: 1000, usageNs: 1e9 }, 1e9],
    ['half a core over 15 s', { atMs: 10_000, usageNs: 5e9 }, { atMs: 25_000, usageNs: 12.5e9 }, 5e8],
    ['idle', { atMs: 0, usageNs: 7 }, { atMs: 500, usageNs: 7 }, 0],
    ['two cores', { atMs: 0, usageNs: 0 }, { atMs: 250, usageNs: 5e8 }, 2e9],
    ['no earlier sample', undefined, { atMs: 1000, usageNs: 1e9 }, undefined],
    ['counter reset (cgroup recreated)', { atMs: 0, usageNs: 9e9 }, { atMs: 1000, usageNs: 1e6 }, undefined],
    ['no time passed', { atMs: 1000, usageNs: 0 }, { atMs: 1000, usageNs: 1e6 }, undefined],
  ] as const) {
    it(`cpu rate: ${name}`, () => assert.equal(cpuRateNanoCores(prev, cur), want));
  }

  it('interfaces: ip -s -j link without loopback, stats64 preferred, missing counters are 0', () => {
    const got = parseIpLinkStats([
      { ifname: 'lo', stats64: { rx: { bytes: 9 }, tx: { bytes: 9 } } },
      {
        ifname: 'eth0',
        stats64: { rx: { bytes: 1_048_576, packets: 800, errors: 1, dropped: 2 }, tx: { bytes: 4096, packets: 30, errors: 0, dropped: 3 } },
        stats: { rx: { bytes: 1 }, tx: { bytes: 1 } },
      },
      { ifname: 'eth1', stats: { rx: { bytes: 10, packets: 1 }, tx: {} } },
      { stats64: { rx: { bytes: 1 } } },
    ]);
    assert.deepEqual(got, [
      { Name: 'eth0', RxBytes: 1_048_576, RxPackets: 800, RxErrors: 1, RxDrops: 2, TxBytes: 4096, TxPackets: 30, TxErrors: 0, TxDrops: 3 },
      { Name: 'eth1', RxBytes: 10, RxPackets: 1, RxErrors: 0, RxDrops: 0, TxBytes: 0, TxPackets: 0, TxErrors: 0, TxDrops: 0 },
    ]);
  });
});

describe('metrics: record selection', () => {
  const rec = (t: string, usage: number): MetricRecord => ({
    Timestamp: t,
    CPU: { UsageCoreNanoSeconds: usage },
    Memory: { AvailableBytes: 0, Cache: 0, Rss: 0, UsageBytes: 0, WorkingSet: 0 },
    Network: { Interfaces: [] },
    Disk: [],
    Filesystem: [],
    Containers: [],
  });
  const records = [
    rec('2026-01-01T00:00:00Z', 0),
    rec('2026-01-01T00:00:15Z', 1),
    rec('2026-01-01T00:00:30Z', 2),
    rec('2026-01-01T00:00:45Z', 3),
    rec('2026-01-01T00:01:00Z', 4),
    rec('2026-01-01T00:01:15Z', 5),
  ];
  const at = (t: string) => Date.parse(t);
  const usages = (rs: MetricRecord[]) => rs.map((r) => r.CPU.UsageCoreNanoSeconds);

  it('keeps the inclusive range, oldest first', () => {
    assert.deepEqual(usages(selectRecords(records, at('2026-01-01T00:00:15Z'), at('2026-01-01T00:01:00Z'))), [1, 2, 3, 4]);
    assert.deepEqual(usages(selectRecords(records, at('2026-01-01T00:02:00Z'), Infinity)), []);
  });

  it('with a period, keeps the latest record of each period', () => {
    assert.deepEqual(usages(selectRecords(records, 0, Infinity, 30)), [1, 3, 5]);
    assert.deepEqual(usages(selectRecords(records, 0, Infinity, 60)), [3, 5]);
    assert.deepEqual(usages(selectRecords(records, 0, Infinity, 15)), [0, 1, 2, 3, 4, 5]);
  });
});
