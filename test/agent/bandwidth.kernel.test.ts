// Per-EIP shaping measured with iperf3: a "router" and a "host" namespace joined by an uplink veth,
// the EIPs as addresses on the router end (where traffic leaves after SNAT), an Internet address on
// the host end. Upload is shaped on the router end's egress, download on the host end's egress; nft
// `meta priority set … map` picks the class. Every measurement must land within ±10% of the limit.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  DOWNLOAD_PRIO_MAP,
  planShaping,
  renderPrioDelta,
  renderPrioMap,
  renderPrioStatement,
  renderShapingClasses,
  renderShapingDelta,
  renderShapingRoot,
  UPLOAD_PRIO_MAP,
  type EipShape,
  type PackageShape,
  type ShapePlan,
} from '../../src/agent/net/bandwidth.ts';
import { ipBatch, listNetns, nftApply, run, tcBatch } from '../../src/agent/net/exec.ts';
import { hostNetnsName, routerNetnsName, shortId, uplinkVeth } from '../../src/agent/net/names.ts';

const skip = process.getuid?.() !== 0 ? 'kernel tests need root' : false;
const INTERNET = '198.51.100.1';
const EIP1 = '203.0.113.10';
const EIP2 = '203.0.113.11';
const EIP3 = '203.0.113.12';

interface IperfResult {
  end: { sum_received: { bits_per_second: number } };
  server_output_json?: { intervals: { sum: { start: number; end: number; bits_per_second: number } }[] };
}

const mbps = (r: IperfResult) => r.end.sum_received.bits_per_second / 1e6;

function within(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= want * 0.1, `${what}: ${got.toFixed(2)} Mbit/s, want ${want} ±10%`);
}

/**
 * A throughput that must be within ±10% of `want`, measured at most twice. On a host loaded by other
 * test files a TCP flow now and then stalls in a retransmission timeout and reads 10–20% low; a wrong
 * limit (no cap, the wrong class, the wrong rate) misses in both runs. Every reading is reported.
 */
async function measured(t: { diagnostic(msg: string): void }, want: number, what: string, once: () => Promise<number>): Promise<void> {
  let got = await once();
  t.diagnostic(`${what}: ${got.toFixed(2)} Mbit/s (limit ${want})`);
  if (Math.abs(got - want) > want * 0.1) {
    got = await once();
    t.diagnostic(`${what}, second run: ${got.toFixed(2)} Mbit/s (limit ${want})`);
  }
  within(got, want, what);
}

describe('EIP bandwidth shaping in the kernel', { skip, concurrency: false }, () => {
  const hostId = `host-b${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.slice(0, 13);
  const vpcId = `vpc-bw${randomBytes(4).toString('hex')}`;
  const router = routerNetnsName(hostId, vpcId);
  const host = hostNetnsName(hostId);
  const { routerSide: up, hostSide: down } = uplinkVeth(hostId, vpcId);
  const servers: ChildProcess[] = [];
  let port = 5300;
  let plan: ShapePlan;

  /** Converges both devices and both maps to `next`; returns the tc lines it ran on each device. */
  async function converge(eips: EipShape[], packages: PackageShape[] = []): Promise<string[]> {
    const next = planShaping(eips, packages);
    const lines = renderShapingDelta(up, plan, next);
    await tcBatch(router, lines);
    await tcBatch(host, renderShapingDelta(down, plan, next));
    const upMap = renderPrioDelta(UPLOAD_PRIO_MAP, plan, next);
    if (upMap) await nftApply(router, upMap);
    const downMap = renderPrioDelta(DOWNLOAD_PRIO_MAP, plan, next);
    if (downMap) await nftApply(host, downMap);
    plan = next;
    return lines;
  }

  /** A one-shot iperf3 server on the Internet side; resolves when it listens. */
  async function server(): Promise<number> {
    const p = (port += 1);
    const child = spawn('nsenter', [`--net=/var/run/netns/${host}`, '--', 'iperf3', '-s', '-1', '-J', '-i', '0.5', '-B', INTERNET, '-p', String(p)], { stdio: 'ignore' });
    servers.push(child);
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const { stdout } = await run(['ss', '-Htln', `sport = :${p}`], { netns: host });
      if (stdout.trim()) return p;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`iperf3 server on port ${p} did not start`);
  }

  /**
   * One bounded iperf3 run from an EIP: upload by default, download with `reverse`. The first second
   * (slow start overshooting into the tbf queue) is run but not counted (`-O 1`): on a loaded host its
   * loss burst sometimes ends in a retransmission timeout that says nothing about the limit.
   */
  async function iperf(eip: string, p: number, opts: { reverse?: boolean; seconds?: number; serverOutput?: boolean } = {}): Promise<IperfResult> {
    const argv = ['timeout', '20', 'iperf3', '-c', INTERNET, '-p', String(p), '-B', eip, '-t', String(opts.seconds ?? 3), '-J'];
    if (opts.reverse) argv.push('-R');
    if (opts.serverOutput) argv.push('-i', '0.5', '--get-server-output');
    else argv.push('-O', '1');
    const { stdout } = await run(argv, { netns: router, timeoutMs: 25000 });
    return JSON.parse(stdout) as IperfResult;
  }

  before(async () => {
    await run(['ip', 'netns', 'add', router]);
    await run(['ip', 'netns', 'add', host]);
    await ipBatch(router, ['link set lo up', `link add ${up} type veth peer name ${down} netns ${host}`]);
    await ipBatch(router, [
      ...[EIP1, EIP2, EIP3].map((ip) => `addr add ${ip}/32 dev ${up}`),
      `link set ${up} up`,
      `route add ${INTERNET}/32 dev ${up}`,
    ]);
    await ipBatch(host, ['link set lo up', `addr add ${INTERNET}/32 dev ${down}`, `link set ${down} up`, `route add 203.0.113.0/24 dev ${down}`]);
    plan = planShaping([]);
    await tcBatch(router, renderShapingRoot(up));
    await tcBatch(host, renderShapingRoot(down));
    // Classify after srcnat (priority 100): in the agent the source is the EIP only after SNAT.
    await nftApply(router, `table inet eci {\n${renderPrioMap(UPLOAD_PRIO_MAP)}chain shape_up {\ntype filter hook postrouting priority 200;\n${renderPrioStatement('up', up)}\n}\n}\n`);
    await nftApply(host, `table inet eci {\n${renderPrioMap(DOWNLOAD_PRIO_MAP)}chain shape_down {\ntype filter hook postrouting priority 200;\n${renderPrioStatement('down', down)}\n}\n}\n`);
    await converge([EIP1, EIP2, EIP3].map((ip) => ({ ip, mbit: 5 })));
  });

  after(async () => {
    for (const s of servers) {
      if (s.exitCode === null && s.signalCode === null) {
        s.kill('SIGKILL');
        await new Promise((r) => s.once('close', r));
      }
    }
    await run(['ip', 'netns', 'delete', router]).catch(() => undefined);
    await run(['ip', 'netns', 'delete', host]).catch(() => undefined);
    const tag = shortId(hostId);
    assert.deepEqual((await listNetns()).filter((n) => n.includes(tag)), []);
    assert.deepEqual(servers.filter((s) => s.exitCode === null && s.signalCode === null).map((s) => s.pid), []);
  });

  test('the default 5 Mbit/s holds in both directions', async (t) => {
    await measured(t, 5, 'upload', async () => mbps(await iperf(EIP1, await server())));
    await measured(t, 5, 'download', async () => mbps(await iperf(EIP1, await server(), { reverse: true })));
  });

  test('a new limit applies live to a running flow, in two tc lines per device', async (t) => {
    const p = await server();
    const flow = iperf(EIP2, p, { seconds: 6, serverOutput: true });
    await new Promise((r) => setTimeout(r, 1500));
    const lines = await converge([{ ip: EIP1, mbit: 5 }, { ip: EIP2, mbit: 10 }, { ip: EIP3, mbit: 5 }]);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^class replace dev \S+ parent 1: classid 1:710b htb /);
    assert.match(lines[1], /^qdisc replace dev \S+ parent 1:710b tbf rate 10000kbit /);
    const intervals = (await flow).server_output_json?.intervals ?? [];
    const series = intervals.map((i) => `${i.sum.start.toFixed(1)}s ${(i.sum.bits_per_second / 1e6).toFixed(2)}`).join(', ');
    const avg = (from: number, to: number) => {
      const xs = intervals.filter((i) => i.sum.start >= from && i.sum.end <= to + 0.01 && i.sum.end - i.sum.start >= 0.4);
      assert.ok(xs.length >= 2, `intervals in ${from}–${to} s`);
      return xs.reduce((s, i) => s + i.sum.bits_per_second, 0) / xs.length / 1e6;
    };
    t.diagnostic(`server-side 0.5 s intervals, limit 5 → 10 Mbit/s at ~1.5 s: ${series}`);
    within(avg(0, 1.5), 5, `before the change [${series}]`);
    // TCP then needs a second or two (congestion avoidance at ~35 ms RTT; longer on a loaded host: one CI
    // run measured 7.9, 3.9 Mbit/s at 2.5–3.5 s, then 10.8, 8.9, 10.4) to fill the doubled rate.
    within(avg(3.5, 6), 10, `after the change [${series}]`);
    // And a new flow in the other direction gets the new limit too.
    await measured(t, 10, 'a new download flow after the change', async () => mbps(await iperf(EIP2, await server(), { reverse: true })));
  });

  test('a common bandwidth package caps the total of its EIPs, both directions', async (t) => {
    const lines = await converge(
      [{ ip: EIP1, mbit: 6, packageId: 'cbwp-t' }, { ip: EIP2, mbit: 6, packageId: 'cbwp-t' }, { ip: EIP3, mbit: 5 }],
      [{ id: 'cbwp-t', mbit: 8 }],
    );
    assert.ok(lines.some((l) => / htb rate 8000kbit ceil 8000kbit /.test(l)));
    for (const reverse of [false, true]) {
      await measured(t, 8, `package total ${reverse ? 'download' : 'upload'} (each EIP 6)`, async () => {
        const [p1, p2] = [await server(), await server()];
        const [a, b] = (await Promise.all([iperf(EIP1, p1, { reverse }), iperf(EIP2, p2, { reverse })])).map(mbps);
        return a + b;
      });
    }
  });

  test('removing an EIP removes its class, its leaf and its map element', async () => {
    await converge([{ ip: EIP1, mbit: 5 }, { ip: EIP2, mbit: 5 }]);
    // `tc -j class show` prints text on this iproute2, so read the text: `class htb 1:710a root leaf 8001: …`.
    const text = (await run(['tc', 'class', 'show', 'dev', up], { netns: router })).stdout;
    const htb = [...text.matchAll(/^class htb (\S+) (root|parent (\S+))/gm)].map((m) => `${m[1]} ${m[3] ?? 'root'}`);
    assert.deepEqual(htb.sort(), ['1:710a root', '1:710b root']);
    const leaves = [...text.matchAll(/^class htb \S+ .*leaf (\S+)/gm)].length;
    assert.equal(leaves, 2);
    const { stdout } = await run(['nft', 'list', 'map', 'inet', 'eci', DOWNLOAD_PRIO_MAP], { netns: host });
    assert.match(stdout, /203\.0\.113\.10 : 1:710a, 203\.0\.113\.11 : 1:710b/);
    assert.doesNotMatch(stdout, /203\.0\.113\.12/);
    // The whole plan re-rendered onto a fresh device gives the same classes (delta = full).
    assert.deepEqual(renderShapingClasses(up, plan).filter((l) => l.startsWith('class')).length, 2);
  });
});
