// The pure placement planner and host health: state in → decision out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostStatusAt, hostUsage, planPlacement, vSwitchOrder, type HostView, type PlacementPlan, type PlacementRequest, type Usage } from '../../src/core/placement.ts';

const H = 'cn-hangzhou-h';
const I = 'cn-hangzhou-i';
const T0 = Date.parse('2026-01-01T00:00:00Z');

const host = (id: string, zoneId: string, cpu = 8, memory = 16, status = 'Ready'): HostView => ({ id, zoneId, status, cpu, memory });
const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({
  cpu: 2,
  memory: 4,
  vSwitches: [{ id: 'vsw-h', zoneId: H }],
  createdMs: T0,
  maxPendingMinute: 240,
  ...over,
});
const used = (entries: [string, number, number][]): Map<string, Usage> => new Map(entries.map(([id, cpu, memory]) => [id, { cpu, memory }]));
const place = (...choices: [string, string, string][]): PlacementPlan => ({
  type: 'place',
  choices: choices.map(([vSwitchId, zoneId, hostId]) => ({ vSwitchId, zoneId, hostId })),
  unfit: [],
});

describe('planPlacement', () => {
  const cases: [string, PlacementRequest, HostView[], Map<string, Usage>, number, PlacementPlan][] = [
    ['no hosts in the region: waits', req(), [], used([]), T0 + 60_000, { type: 'wait' }],
    ['no hosts, just before MaxPendingMinute: still waits', req({ maxPendingMinute: 10 }), [], used([]), T0 + 10 * 60_000 - 1, { type: 'wait' }],
    [
      'no hosts for MaxPendingMinute: fails',
      req({ maxPendingMinute: 10 }), [], used([]), T0 + 10 * 60_000,
      { type: 'fail', reason: 'no host has registered in the region within MaxPendingMinute (10 minutes)' },
    ],
    ['one Ready host with room', req(), [host('host-a', H)], used([]), T0, place(['vsw-h', H, 'host-a'])],
    ['exact fit counts as room', req(), [host('host-a', H)], used([['host-a', 6, 12]]), T0, place(['vsw-h', H, 'host-a'])],
    ['fractional requests that sum to an exact fit', req({ cpu: 0.3, memory: 0.3 }), [host('host-a', H, 0.9, 0.9)], used([['host-a', 0.1 + 0.2 + 0.3, 0.6]]), T0, place(['vsw-h', H, 'host-a'])],
    [
      'CPU short by a little: fails with the zone and the size',
      req(), [host('host-a', H)], used([['host-a', 6.5, 0]]), T0,
      { type: 'fail', reason: 'no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free' },
    ],
    [
      'memory short: fails',
      req(), [host('host-a', H)], used([['host-a', 0, 12.5]]), T0,
      { type: 'fail', reason: 'no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free' },
    ],
    [
      'an Unhealthy host is never chosen',
      req(), [host('host-a', H, 8, 16, 'Unhealthy')], used([]), T0,
      { type: 'fail', reason: 'no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free' },
    ],
    [
      'hosts only in another zone: fails (hosts exist, so no waiting)',
      req(), [host('host-i', I)], used([]), T0,
      { type: 'fail', reason: 'no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free' },
    ],
    ['tie-break: most free memory wins', req(), [host('host-a', H), host('host-b', H)], used([['host-a', 0, 8], ['host-b', 4, 2]]), T0, place(['vsw-h', H, 'host-b'])],
    ['equal memory: most free CPU wins', req(), [host('host-a', H), host('host-b', H)], used([['host-a', 4, 0], ['host-b', 2, 0]]), T0, place(['vsw-h', H, 'host-b'])],
    ['all equal: the smallest id wins (deterministic)', req(), [host('host-b', H), host('host-a', H)], used([]), T0, place(['vsw-h', H, 'host-a'])],
    [
      'ordered vSwitches: the first zone with room first, then the others as fallbacks',
      req({ vSwitches: [{ id: 'vsw-h', zoneId: H }, { id: 'vsw-i', zoneId: I }] }), [host('host-a', H), host('host-i', I)], used([]), T0,
      place(['vsw-h', H, 'host-a'], ['vsw-i', I, 'host-i']),
    ],
    [
      'first zone full: the second vSwitch is chosen, with the reason for the first kept',
      req({ vSwitches: [{ id: 'vsw-h', zoneId: H }, { id: 'vsw-i', zoneId: I }] }), [host('host-a', H), host('host-i', I)], used([['host-a', 8, 16]]), T0,
      { type: 'place', choices: [{ vSwitchId: 'vsw-i', zoneId: I, hostId: 'host-i' }], unfit: ['no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free'] },
    ],
    [
      'two vSwitches in one full zone: one reason, not two',
      req({ vSwitches: [{ id: 'vsw-h1', zoneId: H }, { id: 'vsw-h2', zoneId: H }] }), [host('host-a', H)], used([['host-a', 8, 16]]), T0,
      { type: 'fail', reason: 'no Ready host in zone cn-hangzhou-h has 2 vCPU and 4 GiB free' },
    ],
    [
      'nothing fits anywhere: every zone is named',
      req({ cpu: 16, memory: 1, vSwitches: [{ id: 'vsw-h', zoneId: H }, { id: 'vsw-i', zoneId: I }] }), [host('host-a', H), host('host-i', I)], used([]), T0,
      { type: 'fail', reason: 'no Ready host in zone cn-hangzhou-h has 16 vCPU and 1 GiB free; no Ready host in zone cn-hangzhou-i has 16 vCPU and 1 GiB free' },
    ],
    ['no candidate vSwitch left: fails', req({ vSwitches: [] }), [host('host-a', H)], used([]), T0, { type: 'fail', reason: 'none of its vSwitches exists any more' }],
  ];
  for (const [name, r, hosts, usage, now, want] of cases) it(name, () => assert.deepEqual(planPlacement(r, hosts, usage, now), want));
});

describe('hostUsage', () => {
  it('sums the requests of non-final placed groups per host', () => {
    const u = hostUsage([
      { status: 'Pending', hostId: 'host-a', cpu: 1, memory: 2 },
      { status: 'Running', hostId: 'host-a', cpu: 2, memory: 4 },
      { status: 'Terminating', hostId: 'host-b', cpu: 0.5, memory: 1 },
      { status: 'Restarting', hostId: 'host-b', cpu: 1, memory: 1 },
      { status: 'Updating', hostId: 'host-b', cpu: 1, memory: 1 },
      // Final groups hold nothing; unplaced ones are on no host.
      { status: 'Succeeded', hostId: 'host-a', cpu: 8, memory: 8 },
      { status: 'Failed', hostId: 'host-a', cpu: 8, memory: 8 },
      { status: 'Expired', hostId: 'host-a', cpu: 8, memory: 8 },
      { status: 'ScheduleFailed', hostId: 'host-a', cpu: 8, memory: 8 },
      { status: 'Scheduling', hostId: '', cpu: 8, memory: 8 },
    ]);
    assert.deepEqual(Object.fromEntries(u), { 'host-a': { cpu: 3, memory: 6 }, 'host-b': { cpu: 2.5, memory: 3 } });
  });
});

describe('vSwitchOrder', () => {
  const fixed = (bytes: number[]) => (n: number) => Uint8Array.from({ length: n }, (_, i) => bytes[i] ?? 0);
  it('VSwitchOrdered keeps the request order, whatever vSwitch holds the address', () => {
    assert.deepEqual(vSwitchOrder(['vsw-1', 'vsw-2', 'vsw-3'], 'vsw-2', 'VSwitchOrdered', fixed([1, 2, 3])), ['vsw-1', 'vsw-2', 'vsw-3']);
  });
  it('VSwitchRandom: the vSwitch drawn at creation first, the rest shuffled by the injected randomness', () => {
    // rest = [vsw-1, vsw-3, vsw-4]; Fisher–Yates from the end: i=2 j=bytes[2]%3=2, i=1 j=bytes[1]%2=1 → unchanged.
    assert.deepEqual(vSwitchOrder(['vsw-1', 'vsw-2', 'vsw-3', 'vsw-4'], 'vsw-2', 'VSwitchRandom', fixed([0, 1, 2])), ['vsw-2', 'vsw-1', 'vsw-3', 'vsw-4']);
    // i=2 j=0 → [vsw-4, vsw-3, vsw-1]; i=1 j=0 → [vsw-3, vsw-4, vsw-1].
    assert.deepEqual(vSwitchOrder(['vsw-1', 'vsw-2', 'vsw-3', 'vsw-4'], 'vsw-2', 'VSwitchRandom', fixed([0, 0, 0])), ['vsw-2', 'vsw-3', 'vsw-4', 'vsw-1']);
  });
  it('a single vSwitch (or none recorded) is the current one', () => {
    assert.deepEqual(vSwitchOrder([], 'vsw-1', 'VSwitchRandom', fixed([])), ['vsw-1']);
    assert.deepEqual(vSwitchOrder(['vsw-1', 'vsw-1'], 'vsw-1', 'VSwitchOrdered', fixed([])), ['vsw-1']);
  });
});

describe('hostStatusAt', () => {
  const beat = '2026-01-01T00:00:00Z';
  const cases: [string, string, number, number | undefined, string][] = [
    ['fresh heartbeat', beat, T0 + 2_000, undefined, 'Ready'],
    ['just under 15 s', beat, T0 + 14_999, undefined, 'Ready'],
    ['15 s of silence', beat, T0 + 15_000, undefined, 'Unhealthy'],
    ['configurable limit', beat, T0 + 3_000, 3_000, 'Unhealthy'],
    ['a heartbeat from the future (clock skew) is fresh', '2026-01-01T00:01:00Z', T0, undefined, 'Ready'],
    ['unparseable heartbeat', 'never', T0, undefined, 'Unhealthy'],
  ];
  for (const [name, last, now, limit, want] of cases) it(name, () => assert.equal(hostStatusAt(last, now, limit), want));
});
