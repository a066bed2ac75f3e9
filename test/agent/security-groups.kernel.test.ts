// Security groups proven with real packets: a router namespace, three instance namespaces on routed
// veths and an outside namespace on the uplink; busybox httpd servers, curl and ping as clients. The
// table is loaded once in full and then changed only through renderSgDelta, as the agent does.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { json, nftApply } from '../../src/agent/net/exec.ts';
import { planSecurityGroups, renderSgDelta, renderSgPlan, type SgMember, type SgPlan } from '../../src/agent/net/security-groups.ts';
import type { SecurityGroupData } from '../../src/core/model.ts';
import { createSgTopology, egress, group, ingress, OUTSIDE_IP, type Instance, type SgTopology } from './helpers/sg-topology.ts';

const skip = process.getuid?.() !== 0 ? 'kernel tests need root' : false;

describe('security groups in the kernel', { skip, concurrency: false }, () => {
  let topo: SgTopology;
  let A: Instance;
  let B: Instance;
  let C: Instance;
  let plan: SgPlan;

  /** Converges the router to these memberships and groups with one delta transaction. */
  async function converge(members: [Instance, string[]][], groups: SecurityGroupData[]): Promise<string> {
    const list: SgMember[] = members.map(([i, ids]) => ({ ifname: i.ifname, ip: i.ip, securityGroupIds: ids }));
    const next = planSecurityGroups({ members: list, groups });
    const script = renderSgDelta(plan, next);
    if (script) await nftApply(topo.router, script);
    plan = next;
    return script;
  }

  const open = (from: Instance | 'outside', to: Instance | 'outside', port: number) =>
    topo.tcpOpen(from === 'outside' ? topo.outside : from.netns, to === 'outside' ? OUTSIDE_IP : to.ip, port);

  before(async () => {
    topo = await createSgTopology(3);
    [A, B, C] = topo.instances;
    plan = planSecurityGroups({ members: [], groups: [] });
    const r = renderSgPlan(plan);
    await topo.loadTable(r.chains, r.forwardRules);
    await topo.serve(A.netns, [80, 2222, 3333, 4444, 5555, 8080]);
    await topo.serve(B.netns, [80]);
    await topo.serve(C.netns, [80, 8080]);
    await topo.serve(topo.outside, [80]);
    await topo.serveUdp(A.netns, 5353);
    await topo.serveUdp(A.netns, 5354);
  });

  after(async () => {
    if (!topo) return;
    await topo.destroy();
    assert.deepEqual(await topo.leftovers(), []);
  });

  test('ingress opens exactly the allowed port; ICMP only by rule', async () => {
    const sgA = group('sg-a', [ingress({ IpProtocol: 'TCP', PortRange: '80/80' })]);
    const sgB = group('sg-b', []);
    await converge([[A, ['sg-a']], [B, ['sg-b']], [C, ['sg-c']]], [sgA, sgB, group('sg-c', [])]);
    const [o80, o8080, b80, b8080, ping] = await Promise.all([
      open('outside', A, 80),
      open('outside', A, 8080),
      open(B, A, 80),
      open(B, A, 8080),
      topo.pingOk(topo.outside, A.ip),
    ]);
    assert.deepEqual({ o80, o8080, b80, b8080, ping }, { o80: true, o8080: false, b80: true, b8080: false, ping: false });

    sgA.Permissions.push(ingress({ IpProtocol: 'ICMP' }));
    await converge([[A, ['sg-a']], [B, ['sg-b']], [C, ['sg-c']]], [sgA, sgB, group('sg-c', [])]);
    assert.equal(await topo.pingOk(topo.outside, A.ip), true);
    // Egress defaults to accept for basic groups: A reaches the outside server with no egress rule.
    assert.equal(await open(A, 'outside', 80), true);
  });

  test('UDP rules open exactly their port range', async () => {
    const sgA = group('sg-a', [ingress({ IpProtocol: 'UDP', PortRange: '5300/5353', SourceCidrIp: '192.0.2.0/24' })]);
    await converge([[A, ['sg-a']], [B, ['sg-b']]], [sgA, group('sg-b', [])]);
    const [o5353, o5354, b5353, tcp80] = await Promise.all([
      topo.udpOpen(topo.outside, A.ip, 5353),
      topo.udpOpen(topo.outside, A.ip, 5354),
      topo.udpOpen(B.netns, A.ip, 5353),
      open('outside', A, 80),
    ]);
    // B's address is outside the rule's source CIDR; TCP is not UDP.
    assert.deepEqual({ o5353, o5354, b5353, tcp80 }, { o5353: true, o5354: false, b5353: false, tcp80: false });
    // The 5354 server answers once the range covers it.
    sgA.Permissions[0] = { ...sgA.Permissions[0], PortRange: '5300/5354' };
    await converge([[A, ['sg-a']], [B, ['sg-b']]], [sgA, group('sg-b', [])]);
    assert.equal(await topo.udpOpen(topo.outside, A.ip, 5354), true);
  });

  test('drop wins a tie; the smaller priority number wins', async () => {
    const sgA = group('sg-a', [ingress({ IpProtocol: 'TCP', PortRange: '8080/8080', Priority: 5 })]);
    const members: [Instance, string[]][] = [[A, ['sg-a']]];
    await converge(members, [sgA]);
    assert.equal(await open('outside', A, 8080), true, 'the accept alone opens 8080');

    sgA.Permissions.push(
      ingress({ IpProtocol: 'TCP', PortRange: '8080/8080', Priority: 5, Policy: 'Drop' }),
      ingress({ IpProtocol: 'TCP', PortRange: '2222/2222', Priority: 1 }),
      ingress({ IpProtocol: 'TCP', PortRange: '1/65535', Priority: 2, Policy: 'Drop' }),
      ingress({ IpProtocol: 'TCP', PortRange: '3333/3333', Priority: 10 }),
    );
    await converge(members, [sgA]);
    const [p8080, p2222, p3333] = await Promise.all([open('outside', A, 8080), open('outside', A, 2222), open('outside', A, 3333)]);
    assert.deepEqual({ p8080, p2222, p3333 }, { p8080: false, p2222: true, p3333: false });
  });

  test('a group as source follows membership changes', async () => {
    const groups = [group('sg-a', [ingress({ IpProtocol: 'TCP', PortRange: '80/80', SourceGroupId: 'sg-b' })]), group('sg-b', []), group('sg-c', [])];
    await converge([[A, ['sg-a']], [B, ['sg-b']], [C, ['sg-c']]], groups);
    assert.deepEqual(await Promise.all([open(B, A, 80), open(C, A, 80)]), [true, false]);

    // C joins sg-b: its address enters @sgm_b (and its own chains change: new group combination).
    const script = await converge([[A, ['sg-a']], [B, ['sg-b']], [C, ['sg-c', 'sg-b']]], groups);
    assert.match(script, /add element inet eci sgm_b \{ 10\.20\.0\.12 \}/);
    assert.deepEqual(await Promise.all([open(B, A, 80), open(C, A, 80)]), [true, true]);

    // B leaves sg-b.
    await converge([[A, ['sg-a']], [B, ['sg-c']], [C, ['sg-c', 'sg-b']]], groups);
    assert.deepEqual(await Promise.all([open(B, A, 80), open(C, A, 80)]), [false, true]);
  });

  test('egress rules filter what a member sends', async () => {
    const groups = [
      group('sg-a', [egress({ IpProtocol: 'TCP', PortRange: '80/80', DestCidrIp: C.ip, Policy: 'Drop' }), egress({ IpProtocol: 'ICMP', Policy: 'Drop' })]),
      group('sg-c', [ingress({ IpProtocol: 'TCP', PortRange: '1/65535' }), ingress({ IpProtocol: 'ICMP' })]),
    ];
    await converge([[A, ['sg-a']], [B, ['sg-b']], [C, ['sg-c']]], [...groups, group('sg-b', [])]);
    const [a80, a8080, b80, aPing, bPing] = await Promise.all([
      open(A, C, 80),
      open(A, C, 8080),
      open(B, C, 80),
      topo.pingOk(A.netns, C.ip),
      topo.pingOk(B.netns, C.ip),
    ]);
    assert.deepEqual({ a80, a8080, b80, aPing, bPing }, { a80: false, a8080: true, b80: true, aPing: false, bPing: true });
  });

  test('five groups on one instance are merged by priority', async () => {
    const groups = [
      group('sg-g1', [ingress({ IpProtocol: 'TCP', PortRange: '2222/2222', Priority: 10 }), ingress({ IpProtocol: 'TCP', PortRange: '5555/5555', Priority: 100, Policy: 'Drop' })]),
      group('sg-g2', [ingress({ IpProtocol: 'TCP', PortRange: '3333/3333', Priority: 1 })]),
      group('sg-g3', [ingress({ IpProtocol: 'TCP', PortRange: '4444/4444', Priority: 50 })]),
      group('sg-g4', [ingress({ IpProtocol: 'TCP', PortRange: '4000/4999', Priority: 20, Policy: 'Drop' })]),
      group('sg-g5', [ingress({ IpProtocol: 'TCP', PortRange: '5555/5555', Priority: 100 }), ingress({ IpProtocol: 'TCP', PortRange: '80/80', Priority: 100 })]),
    ];
    await converge([[A, groups.map((g) => g.SecurityGroupId)]], groups);
    const ports = [2222, 3333, 4444, 5555, 80, 8080];
    const got = await Promise.all(ports.map((p) => open('outside', A, p)));
    assert.deepEqual(Object.fromEntries(ports.map((p, i) => [p, got[i]])), { 2222: true, 3333: true, 4444: false, 5555: false, 80: true, 8080: false });
  });

  test('inner access: basic groups connect their members, enterprise groups isolate them', async () => {
    await converge([[A, ['sg-s']], [B, ['sg-s']], [C, ['sg-x']]], [group('sg-s', []), group('sg-x', [])]);
    const [ab, ba, ca, oa] = await Promise.all([open(A, B, 80), open(B, A, 80), open(C, A, 80), open('outside', A, 80)]);
    assert.deepEqual({ ab, ba, ca, oa }, { ab: true, ba: true, ca: false, oa: false });

    // The basic inner policy takes precedence over the group's own drop rules.
    await converge([[A, ['sg-s']], [B, ['sg-s']]], [group('sg-s', [ingress({ IpProtocol: 'ALL', Policy: 'Drop' })])]);
    assert.equal(await open(A, B, 80), true);

    const ent = group('sg-e', [], 'enterprise');
    await converge([[A, ['sg-e']], [B, ['sg-e']]], [ent]);
    // Enterprise: no inner access, and egress is closed by default too.
    assert.deepEqual(await Promise.all([open(A, B, 80), open(A, 'outside', 80)]), [false, false]);

    ent.Permissions.push(ingress({ IpProtocol: 'TCP', PortRange: '80/80', SourceCidrIp: '10.20.0.0/16' }), egress({ IpProtocol: 'ALL' }));
    await converge([[A, ['sg-e']], [B, ['sg-e']]], [ent]);
    assert.deepEqual(await Promise.all([open(A, B, 80), open(A, 'outside', 80)]), [true, true]);
  });

  test('a rule change reaches live traffic within one second', async () => {
    const sgA = group('sg-a', []);
    await converge([[A, ['sg-a']]], [sgA]);
    assert.equal(await open('outside', A, 8080), false);

    const t0 = performance.now();
    sgA.Permissions.push(ingress({ IpProtocol: 'TCP', PortRange: '8080/8080' }));
    await converge([[A, ['sg-a']]], [sgA]);
    assert.equal(await open('outside', A, 8080), true);
    const opened = performance.now() - t0;

    const t1 = performance.now();
    sgA.Permissions.push(ingress({ IpProtocol: 'TCP', PortRange: '8080/8080', Policy: 'Drop' }));
    await converge([[A, ['sg-a']]], [sgA]);
    const appliedClose = performance.now() - t1;
    assert.equal(await open('outside', A, 8080), false);
    assert.ok(opened < 1000, `open took ${opened.toFixed(0)} ms`);
    assert.ok(appliedClose < 1000, `close took ${appliedClose.toFixed(0)} ms`);
  });

  test('after any number of deltas the kernel holds what a full load gives', async () => {
    const groups = [
      group('sg-a', [ingress({ IpProtocol: 'TCP', PortRange: '80/80', SourceGroupId: 'sg-b' }), egress({ IpProtocol: 'UDP', PortRange: '53/53', Policy: 'Drop', Priority: 3 })]),
      group('sg-b', [ingress({ IpProtocol: 'GRE' })]),
    ];
    await converge([[A, ['sg-a', 'sg-b']], [B, ['sg-b']], [C, ['sg-a']]], groups);
    const viaDeltas = await snapshot();
    const full = renderSgPlan(plan);
    await topo.loadTable(full.chains, full.forwardRules);
    assert.deepEqual(await snapshot(), viaDeltas);
    // The chains this plan does not need are gone (the delta removed them, not just emptied them).
    assert.deepEqual(Object.keys(viaDeltas.chains).sort(), [...plan.chains.keys(), 'guard'].sort());
  });

  /** The table as comparable data: set/map elements (sorted) and each chain's rules (in order). */
  async function snapshot(): Promise<{ sets: Record<string, unknown>; chains: Record<string, unknown[]> }> {
    type Item = { set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: unknown[] }; rule?: { chain: string; expr: unknown[] }; chain?: { name: string } };
    const out = await json<{ nftables: Item[] }>(topo.router, ['nft', '-j', 'list', 'table', 'inet', 'eci']);
    const sets: Record<string, unknown> = {};
    const chains: Record<string, unknown[]> = {};
    for (const it of out.nftables) {
      const s = it.set ?? it.map;
      if (s) sets[s.name] = (s.elem ?? []).map((e) => JSON.stringify(e)).sort();
      if (it.chain) chains[it.chain.name] ??= [];
      if (it.rule) (chains[it.rule.chain] ??= []).push(it.rule.expr);
    }
    return { sets, chains };
  }
});
