// Table tests of the pure network layers: topology derivation, nft/ip rendering, the planner, and
// apply's unwinding (with a fake op runner). No kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyNetwork, NetApplyError } from '../../src/agent/net/apply.ts';
import { instanceNetnsName, instanceVeth, routerNetnsName, uplinkVeth } from '../../src/agent/net/names.ts';
import type { ObservedHost, ObservedNetns } from '../../src/agent/net/observe.ts';
import { planNetwork, type NetOp, type NetStep } from '../../src/agent/net/plan.ts';
import {
  desiredElements,
  linkAlias,
  nftFingerprint,
  nftObjectNames,
  placeholderTestPolicy,
  renderEipDelta,
  renderNftTable,
  securityGroupPolicy,
  type ForwardPolicy,
} from '../../src/agent/net/render.ts';
import { egressChainName, ingressChainName, memberSetName, sgChainMark } from '../../src/agent/net/security-groups.ts';
import { allocateUplinkSlots, deriveHostNetwork, splitSnatScopes, uplinkAddresses, type HostNetwork, type HostNetworkInput } from '../../src/agent/net/topology.ts';
import { formatIp, parseCidr } from '../../src/core/cidr.ts';
import { allowIn, eip, fwd, group, nat, sg, snat, vpc, vsw } from './helpers/net-fixtures.ts';

const HOST = 'host-tbl00001';

function input(over: Partial<HostNetworkInput> = {}): HostNetworkInput {
  return {
    hostId: HOST,
    hostNetns: 'eci-host-tbl00001',
    groups: [group('eci-a1', 'vpc-a', 'vsw-a1', '10.0.1.10', ['sg-1']), group('eci-a2', 'vpc-a', 'vsw-a2', '10.0.2.10')],
    vpcs: [vpc('vpc-a', '10.0.0.0/16'), vpc('vpc-z', '10.0.0.0/16')],
    vSwitches: [vsw('vsw-a1', 'vpc-a', '10.0.1.0/24'), vsw('vsw-a2', 'vpc-a', '10.0.2.0/24')],
    eips: [eip('eip-1', '203.0.113.10', 'InUse', 'EciInstance', 'eci-a1'), eip('eip-n', '203.0.113.20', 'InUse', 'Nat', 'ngw-a')],
    natGateways: [nat('ngw-a', 'vpc-a')],
    snatEntries: [snat('snat-1', 'ngw-a', { cidr: '10.0.0.0/16' }, ['203.0.113.20'])],
    forwardEntries: [fwd('fwd-1', 'ngw-a', '203.0.113.20', 'tcp', '9000/9001', '10.0.2.10', '80/81')],
    ...over,
  };
}

const POLICY: ForwardPolicy = { chains: '', forwardRules: 'iifname != "x" accept' };
const policyFor = () => POLICY;

describe('deriveHostNetwork', () => {
  const d = deriveHostNetwork(input());
  const a = d.vpcs[0];

  it('has one router per VPC with instances here, named with the host prefix', () => {
    assert.deepEqual(d.vpcs.map((v) => v.vpcId), ['vpc-a']);
    assert.equal(d.prefix, 'tbl00001-');
    assert.equal(a.netns, routerNetnsName(HOST, 'vpc-a'));
    assert.equal(a.uplink.routerSide, uplinkVeth(HOST, 'vpc-a').routerSide);
  });

  it('gives each instance its netns, veth, gateway (vSwitch network+1) and EIP', () => {
    assert.deepEqual(
      a.instances.map((i) => [i.groupId, i.netns, i.routerVeth, i.ip, i.gateway, i.eip ?? '']),
      [
        ['eci-a1', instanceNetnsName(HOST, 'eci-a1'), instanceVeth(HOST, 'eci-a1').routerSide, '10.0.1.10', '10.0.1.1', '203.0.113.10'],
        ['eci-a2', instanceNetnsName(HOST, 'eci-a2'), instanceVeth(HOST, 'eci-a2').routerSide, '10.0.2.10', '10.0.2.1', ''],
      ],
    );
    assert.deepEqual(a.eips, [{ ip: '203.0.113.10', privateIp: '10.0.1.10' }]);
  });

  it('routes the instance EIPs and the NAT gateway EIPs to the VPC', () => assert.deepEqual(a.publicIps, ['203.0.113.10', '203.0.113.20']));

  it('keeps a router without instances only for a VPC it is asked to keep (the agent\'s grace after the last instance)', () => {
    const none = input({ groups: [], eips: [], natGateways: [], snatEntries: [], forwardEntries: [] });
    assert.deepEqual(deriveHostNetwork(none).vpcs, []);
    const kept = deriveHostNetwork({ ...none, keepVpcs: ['vpc-z', 'vpc-unknown'] });
    assert.deepEqual(kept.vpcs.map((v) => [v.vpcId, v.netns, v.instances.length]), [['vpc-z', routerNetnsName(HOST, 'vpc-z'), 0]]);
    // A kept VPC that has instances is just a VPC with instances.
    assert.deepEqual(deriveHostNetwork(input({ keepVpcs: ['vpc-a'] })), d);
  });

  it('expands DNAT port ranges pairwise', () =>
    assert.deepEqual(
      a.dnatPort.map((p) => `${p.externalIp}:${p.protocol}:${p.externalPort}->${p.internalIp}:${p.internalPort}`),
      ['203.0.113.20:tcp:9000->10.0.2.10:80', '203.0.113.20:tcp:9001->10.0.2.10:81'],
    ));

  it('is independent of input order', () => {
    const i = input();
    const shuffled = { ...i, groups: [...i.groups].reverse(), eips: [...i.eips].reverse(), vpcs: [...i.vpcs].reverse() };
    assert.deepEqual(deriveHostNetwork(shuffled), d);
  });

  const eipCases: [string, boolean][] = [
    ['Associating', true],
    ['InUse', true],
    ['Unassociating', false],
    ['Available', false],
    ['Releasing', false],
  ];
  for (const [status, programmed] of eipCases)
    it(`programs an instance EIP in status ${status}: ${programmed}`, () => {
      const v = deriveHostNetwork(input({ eips: [eip('eip-1', '203.0.113.10', status, 'EciInstance', 'eci-a1')] })).vpcs[0];
      assert.equal(v.eips.length, programmed ? 1 : 0);
      assert.equal(v.publicIps.includes('203.0.113.10'), programmed);
    });

  it('skips inconsistent rows with a reason instead of failing', () => {
    const r = deriveHostNetwork(
      input({
        groups: [
          group('eci-ok', 'vpc-a', 'vsw-a1', '10.0.1.10'),
          group('eci-novsw', 'vpc-a', 'vsw-gone', '10.0.1.11'),
          group('eci-outside', 'vpc-a', 'vsw-a1', '10.0.9.9'),
          group('eci-zdup', 'vpc-a', 'vsw-a1', '10.0.1.10'),
        ],
        snatEntries: [snat('snat-x', 'ngw-a', { cidr: '10.0.0.0/16' }, ['203.0.113.99'])],
        forwardEntries: [fwd('fwd-x', 'ngw-a', '203.0.113.99', 'tcp', '80', '10.0.1.10', '80')],
      }),
    );
    assert.deepEqual(r.vpcs[0].instances.map((i) => i.groupId), ['eci-ok']);
    assert.deepEqual(r.skipped.map((s) => s.id).sort(), ['eci-novsw', 'eci-outside', 'eci-zdup', 'fwd-x', 'snat-x']);
    assert.deepEqual(r.vpcs[0].snat, []);
  });

  it('maps any-port DNAT to dnat_ip', () => {
    const v = deriveHostNetwork(input({ forwardEntries: [fwd('fwd-1', 'ngw-a', '203.0.113.20', 'any', 'any', '10.0.2.10', 'any')] })).vpcs[0];
    assert.deepEqual(v.dnatIp, [{ externalIp: '203.0.113.20', internalIp: '10.0.2.10' }]);
    assert.deepEqual(v.dnatPort, []);
  });

  it('resolves a vSwitch-scoped SNAT entry to the vSwitch CIDR', () => {
    const v = deriveHostNetwork(input({ snatEntries: [snat('snat-v', 'ngw-a', { vSwitchId: 'vsw-a2' }, ['203.0.113.20'])] })).vpcs[0];
    assert.deepEqual(v.snat, [{ from: '10.0.2.0', to: '10.0.2.255', target: 0 }]);
  });
});

describe('uplink addressing', () => {
  it('is a /30 per slot: host network+1, router network+2', () =>
    assert.deepEqual(uplinkAddresses(3), { network: '169.254.0.12', hostIp: '169.254.0.13', routerIp: '169.254.0.14' }));

  it('is stable when newer VPCs arrive and when others leave', () => {
    const alone = allocateUplinkSlots(['vpc-a']).get('vpc-a');
    const many = allocateUplinkSlots(['vpc-a', 'vpc-b', 'vpc-c', 'vpc-d']);
    assert.equal(many.get('vpc-a'), alone);
    assert.equal(allocateUplinkSlots(['vpc-c']).get('vpc-c'), many.get('vpc-c'));
  });

  it('resolves hash collisions by probing, in creation order', () => {
    // Find two ids with the same hash slot.
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair && i < 5000; i++) {
      const id = `vpc-${i}`;
      const s = allocateUplinkSlots([id]).get(id)!;
      if (seen.has(s)) pair = [seen.get(s)!, id];
      else seen.set(s, id);
    }
    assert.ok(pair, 'a collision exists among 5000 ids');
    const [older, newer] = pair;
    const slots = allocateUplinkSlots([older, newer]);
    assert.equal(slots.get(older), allocateUplinkSlots([older]).get(older));
    assert.equal(slots.get(newer), (slots.get(older)! + 1) % 16384);
  });

  it('never uses slot 0 or the slot of 169.254.169.254', () => {
    const all = allocateUplinkSlots(Array.from({ length: 3000 }, (_, i) => `vpc-${i}`));
    const used = new Set(all.values());
    assert.equal(used.size, 3000);
    assert.equal(used.has(0), false);
    assert.equal(used.has(10879), false);
  });
});

describe('splitSnatScopes: the most specific scope wins', () => {
  const c = (t: string) => parseCidr(t)!;
  const fmt = (r: { from: number; to: number; target: number }[]) => r.map((x) => `${formatIp(x.from)}-${formatIp(x.to)}:${x.target}`);
  const cases: [string, [string, number][], string[]][] = [
    ['one scope', [['10.0.0.0/16', 0]], ['10.0.0.0-10.0.255.255:0']],
    ['disjoint scopes', [['10.0.1.0/24', 0], ['10.0.3.0/24', 1]], ['10.0.1.0-10.0.1.255:0', '10.0.3.0-10.0.3.255:1']],
    [
      'a vSwitch inside the VPC',
      [['10.0.0.0/16', 0], ['10.0.1.0/24', 1]],
      ['10.0.0.0-10.0.0.255:0', '10.0.1.0-10.0.1.255:1', '10.0.2.0-10.0.255.255:0'],
    ],
    [
      'three levels',
      [['10.0.0.0/16', 0], ['10.0.2.0/24', 1], ['10.0.2.10/32', 2]],
      ['10.0.0.0-10.0.1.255:0', '10.0.2.0-10.0.2.9:1', '10.0.2.10-10.0.2.10:2', '10.0.2.11-10.0.2.255:1', '10.0.3.0-10.0.255.255:0'],
    ],
    ['equal CIDRs: the first wins', [['10.0.0.0/24', 0], ['10.0.0.0/24', 1]], ['10.0.0.0-10.0.0.255:0']],
    ['the whole space', [['0.0.0.0/0', 0], ['255.255.255.255/32', 1]], ['0.0.0.0-255.255.255.254:0', '255.255.255.255-255.255.255.255:1']],
  ];
  for (const [name, scopes, want] of cases)
    it(name, () => assert.deepEqual(fmt(splitSnatScopes(scopes.map(([t, target]) => ({ cidr: c(t), target })))), want));
});

describe('render', () => {
  const v = deriveHostNetwork(input()).vpcs[0];

  it('renders one EIP change as one element per map', () => {
    assert.equal(
      renderEipDelta([{ ip: '203.0.113.11', privateIp: '10.0.1.11' }], [{ ip: '203.0.113.10', privateIp: '10.0.1.10' }]),
      'delete element inet eci eip_in { 203.0.113.10 }\ndelete element inet eci eip_out { 10.0.1.10 }\n' +
        'add element inet eci eip_in { 203.0.113.11 : 10.0.1.11 }\nadd element inet eci eip_out { 10.0.1.11 : 203.0.113.11 }\n',
    );
    assert.equal(renderEipDelta([], []), '');
  });

  it('replaces the table in one transaction with its elements, SNAT chains and the policy spliced into guard', () => {
    const t = renderNftTable(v, POLICY);
    assert.ok(t.startsWith('table inet eci {}\ndelete table inet eci\ntable inet eci {\n'));
    assert.match(t, /elements = \{ 203\.0\.113\.10 : 10\.0\.1\.10 \}/);
    assert.match(t, /elements = \{ 203\.0\.113\.20 \. tcp \. 9000 : 10\.0\.2\.10 \. 80, 203\.0\.113\.20 \. tcp \. 9001 : 10\.0\.2\.10 \. 81 \}/);
    assert.match(t, /10\.0\.0\.0-10\.0\.255\.255 : goto snat_0/);
    assert.match(t, /chain snat_0 \{\n    snat ip to 203\.0\.113\.20\n/);
    assert.match(t, /chain guard \{\n    type filter hook forward priority filter; policy drop;\n    ct state established,related accept\n    ct state invalid drop\n.*\n    iifname != "x" accept\n  \}/);
    assert.match(t, new RegExp(`return comment "fp:${nftFingerprint(v, POLICY)}"`));
  });

  it('spreads a multi-IP SNAT entry by source hash', () => {
    const m = deriveHostNetwork(
      input({
        eips: [...input().eips, eip('eip-m', '203.0.113.21', 'InUse', 'Nat', 'ngw-a')],
        snatEntries: [snat('snat-1', 'ngw-a', { cidr: '10.0.0.0/16' }, ['203.0.113.21', '203.0.113.20'])],
      }),
    ).vpcs[0];
    assert.match(renderNftTable(m, POLICY), /snat ip to jhash ip saddr mod 2 map \{ 0 : 203\.0\.113\.20, 1 : 203\.0\.113\.21 \}/);
  });

  it('fingerprints the skeleton: elements do not change it, rules and SNAT do', () => {
    const noEip = deriveHostNetwork(input({ eips: input().eips.filter((e) => e.data.AllocationId !== 'eip-1') })).vpcs[0];
    assert.equal(nftFingerprint(noEip, POLICY), nftFingerprint(v, POLICY));
    assert.notEqual(nftFingerprint(v, { chains: '', forwardRules: 'accept' }), nftFingerprint(v, POLICY));
    const noSnat = deriveHostNetwork(input({ snatEntries: [] })).vpcs[0];
    assert.notEqual(nftFingerprint(noSnat, POLICY), nftFingerprint(v, POLICY));
  });

  it('the placeholder test policy opens only the listed ports to DNAT traffic', () => {
    const p = placeholderTestPolicy(v, [{ protocol: 'tcp', port: 80 }]);
    assert.equal(p.forwardRules, `iifname != "${v.uplink.routerSide}" accept\niifname "${v.uplink.routerSide}" ct status dnat meta l4proto . th dport { tcp . 80 } accept`);
  });
});

// ---- plan ------------------------------------------------------------------------------------------

/** What observe.ts would report for a host converged to `d` (with `policy`). */
function converged(d: HostNetwork, policy: ForwardPolicy = POLICY): ObservedHost {
  const netns = new Map<string, ObservedNetns>();
  const hostLinks = [{ ifname: 'lo', up: true, alias: '', addrs: ['127.0.0.1/8'] }];
  const hostRoutes = [];
  for (const v of d.vpcs) {
    const u = v.uplink;
    hostLinks.push({ ifname: u.hostSide, up: true, alias: linkAlias(HOST, `uplink:${v.vpcId}`), addrs: [`${u.hostIp}/30`] });
    hostRoutes.push({ dst: `${u.network}/30`, dev: u.hostSide });
    for (const ip of v.publicIps) hostRoutes.push({ dst: ip, gateway: u.routerIp, dev: u.hostSide });
    const sysctls: Record<string, string> = { ip_forward: '1' };
    const links = [{ ifname: 'lo', up: true, alias: '', addrs: ['127.0.0.1/8'] }, { ifname: u.routerSide, up: true, alias: '', addrs: [`${u.routerIp}/30`] }];
    const routes = [{ dst: 'default', gateway: u.hostIp, dev: u.routerSide }];
    for (const i of v.instances) {
      links.push({ ifname: i.routerVeth, up: true, alias: linkAlias(HOST, `instance:${i.groupId}`), addrs: [] });
      routes.push({ dst: i.ip, dev: i.routerVeth } as never);
      sysctls[`conf/${i.routerVeth}/proxy_arp`] = '1';
      sysctls[`neigh/${i.routerVeth}/proxy_delay`] = '0';
      netns.set(i.netns, {
        name: i.netns,
        links: [{ ifname: 'lo', up: true, alias: '', addrs: [] }, { ifname: 'eth0', up: true, alias: '', addrs: [`${i.ip}/32`] }],
        routes: [{ dst: 'default', gateway: i.gateway, dev: 'eth0' }, { dst: i.gateway, dev: 'eth0' }],
        sysctls: {},
      });
    }
    netns.set(v.netns, {
      name: v.netns,
      links,
      routes,
      sysctls,
      nft: observedNft(v, policy),
    });
  }
  return { host: { name: d.hostNetns, links: hostLinks, routes: hostRoutes, sysctls: {} }, netns };
}

/** The `inet eci` table as observe.ts reports it after `renderNftTable(v, policy)` was loaded. */
function observedNft(v: HostNetwork['vpcs'][number], policy: ForwardPolicy) {
  const objects = nftObjectNames(v, policy);
  const elements = desiredElements(v, policy);
  const marks: Record<string, string> = {};
  const ruleCounts: Record<string, number> = {};
  const sgp = policy.sg;
  if (sgp) {
    objects.push(...sgp.sets.keys(), ...sgp.chains.keys());
    objects.sort();
    for (const [name, ips] of sgp.sets) elements[name] = new Map(ips.map((ip) => [ip, '']));
    for (const [name, rules] of sgp.chains) (marks[name] = sgChainMark(rules)), (ruleCounts[name] = rules.length);
    const vmap = (m: ReadonlyMap<string, string>) => new Map([...m].map(([k, c]) => [`"${k}"`, JSON.stringify({ jump: { target: c } })]));
    elements['sg_in'] = vmap(sgp.ingress);
    elements['sg_out'] = vmap(sgp.egress);
    elements['sg_ports'] = new Map([...sgp.ingress.keys()].map((k) => [`"${k}"`, '']));
  }
  return { objects, fingerprint: `fp:${nftFingerprint(v, policy)}`, elements, marks, ruleCounts };
}

const summary = (steps: NetStep[]) => steps.map((s) => `${s.unit} | ${s.what}`);

describe('planNetwork', () => {
  const d = deriveHostNetwork(input());
  const v = d.vpcs[0];
  const [i1, i2] = v.instances;

  it('plans nothing for a converged host', () => assert.deepEqual(planNetwork(d, converged(d), policyFor), []));

  it('builds everything from nothing, router before instances, instance side before its route, with undos on creations', () => {
    const steps = planNetwork(d, { host: { name: d.hostNetns, links: [], routes: [], sysctls: {} }, netns: new Map() }, policyFor);
    assert.deepEqual(summary(steps), [
      `vpc:vpc-a | create netns ${v.netns}`,
      `vpc:vpc-a | create uplink ${v.uplink.hostSide}/${v.uplink.routerSide}`,
      `vpc:vpc-a | address host side of uplink ${v.uplink.hostSide}`,
      `vpc:vpc-a | address router side of uplink ${v.uplink.routerSide}`,
      `vpc:vpc-a | enable forwarding in ${v.netns}`,
      `vpc:vpc-a | load nft table inet eci in ${v.netns}`,
      `vpc:vpc-a | route public IPs of vpc-a`,
      `instance:eci-a1 | create netns ${i1.netns}`,
      `instance:eci-a1 | create veth ${i1.routerVeth}/eth0`,
      `instance:eci-a1 | proxy ARP on ${i1.routerVeth}`,
      `instance:eci-a1 | address 10.0.1.10 in ${i1.netns}`,
      `instance:eci-a1 | route 10.0.1.10 to ${i1.routerVeth}`,
      `instance:eci-a2 | create netns ${i2.netns}`,
      `instance:eci-a2 | create veth ${i2.routerVeth}/eth0`,
      `instance:eci-a2 | proxy ARP on ${i2.routerVeth}`,
      `instance:eci-a2 | address 10.0.2.10 in ${i2.netns}`,
      `instance:eci-a2 | route 10.0.2.10 to ${i2.routerVeth}`,
    ]);
    assert.deepEqual(steps.filter((s) => s.undo).map((s) => s.undo!.type), ['netnsDel', 'ip', 'netnsDel', 'ip', 'netnsDel', 'ip']);
    const routes = steps.find((s) => s.what.startsWith('route public'))!.op;
    assert.deepEqual(routes.type === 'ip' && routes.lines, [
      `route replace 203.0.113.10/32 via ${v.uplink.routerIp} dev ${v.uplink.hostSide}`,
      `route replace 203.0.113.20/32 via ${v.uplink.routerIp} dev ${v.uplink.hostSide}`,
    ]);
  });

  it('an EIP bound since the last pass: one element per map and one route', () => {
    const before = deriveHostNetwork(input({ eips: input().eips.filter((e) => e.data.AllocationId !== 'eip-1') }));
    const steps = planNetwork(d, converged(before), policyFor);
    assert.deepEqual(
      steps.map((s) => s.op),
      [
        { type: 'nft', netns: v.netns, script: 'add element inet eci eip_in { 203.0.113.10 : 10.0.1.10 }\nadd element inet eci eip_out { 10.0.1.10 : 203.0.113.10 }\n' },
        { type: 'ip', netns: d.hostNetns, lines: [`route replace 203.0.113.10/32 via ${v.uplink.routerIp} dev ${v.uplink.hostSide}`] },
      ],
    );
  });

  it('an EIP moved to another private IP: delete then add in one script', () => {
    const moved = deriveHostNetwork(input({ eips: [eip('eip-1', '203.0.113.10', 'InUse', 'EciInstance', 'eci-a2'), input().eips[1]] }));
    const steps = planNetwork(moved, converged(d), policyFor);
    assert.deepEqual(summary(steps), [`vpc:vpc-a | update nft elements in ${v.netns}`]);
    const op = steps[0].op;
    assert.equal(
      op.type === 'nft' && op.script,
      'delete element inet eci eip_in { 203.0.113.10 }\ndelete element inet eci eip_out { 10.0.1.10 }\n' +
        'add element inet eci eip_in { 203.0.113.10 : 10.0.2.10 }\nadd element inet eci eip_out { 10.0.2.10 : 203.0.113.10 }\n',
    );
  });

  it('a flushed table (no fingerprint) is reloaded whole', () => {
    const obs = converged(d);
    const r = obs.netns.get(v.netns)!;
    const flushed = new Map(obs.netns).set(v.netns, { ...r, nft: { ...r.nft!, fingerprint: '' } });
    const steps = planNetwork(d, { ...obs, netns: flushed }, policyFor);
    assert.deepEqual(summary(steps), [`vpc:vpc-a | load nft table inet eci in ${v.netns}`]);
  });

  it('a deleted instance veth is recreated in that instance unit only', () => {
    const obs = converged(d);
    const r = obs.netns.get(v.netns)!;
    const inst = obs.netns.get(i2.netns)!;
    const netns = new Map(obs.netns)
      .set(v.netns, { ...r, links: r.links.filter((l) => l.ifname !== i2.routerVeth), routes: r.routes.filter((x) => x.dev !== i2.routerVeth) })
      .set(i2.netns, { ...inst, links: inst.links.filter((l) => l.ifname !== 'eth0'), routes: [] });
    assert.deepEqual(summary(planNetwork(d, { ...obs, netns }, policyFor)), [
      `instance:eci-a2 | create veth ${i2.routerVeth}/eth0`,
      `instance:eci-a2 | proxy ARP on ${i2.routerVeth}`,
      `instance:eci-a2 | address 10.0.2.10 in ${i2.netns}`,
      `instance:eci-a2 | route 10.0.2.10 to ${i2.routerVeth}`,
    ]);
  });

  it('a removed group: its router-side veth, its netns (in one batch with the others) and its element go', () => {
    const gone = deriveHostNetwork(input({ groups: input().groups.filter((g) => g.ContainerGroupId !== 'eci-a2') }));
    const steps = planNetwork(gone, converged(d), policyFor);
    assert.deepEqual(
      steps.map((s) => s.op),
      [
        { type: 'ip', netns: v.netns, lines: [`link del ${i2.routerVeth}`], bestEffort: true },
        { type: 'ip', netns: null, lines: [`netns del ${i2.netns}`], bestEffort: true },
        { type: 'nft', netns: v.netns, script: `delete element inet eci inst_addr { "${i2.routerVeth}" . 10.0.2.10 }\n` },
      ],
    );
  });

  it('a missing instance route or a lost proxy_arp is put back without touching the veth', () => {
    const obs = converged(d);
    const r = obs.netns.get(v.netns)!;
    const netns = new Map(obs.netns).set(v.netns, {
      ...r,
      routes: r.routes.filter((x) => x.dev !== i1.routerVeth),
      sysctls: { ...r.sysctls, [`conf/${i1.routerVeth}/proxy_arp`]: '0' },
    });
    const steps = planNetwork(d, { ...obs, netns }, policyFor);
    assert.deepEqual(summary(steps), [`instance:eci-a1 | proxy ARP on ${i1.routerVeth}`, `instance:eci-a1 | route 10.0.1.10 to ${i1.routerVeth}`]);
    assert.ok(steps.every((s) => !s.undo));
  });

  it('deletes what carries the host prefix or alias but is not desired, and nothing else', () => {
    const obs = converged(d);
    const stray = `${d.prefix}eci-gone0000`;
    const strayRouter = `${d.prefix}vpcr-gone0000`;
    const netns = new Map(obs.netns)
      .set(stray, { name: stray, links: [{ ifname: 'eth0', up: true, alias: '', addrs: [] }], routes: [], sysctls: {} })
      .set(strayRouter, { name: strayRouter, links: [{ ifname: 'lo', up: true, alias: '', addrs: [] }, { ifname: 'uabc', up: true, alias: '', addrs: [] }], routes: [], sysctls: {}, nft: null })
      .set('other-eci-x', { name: 'other-eci-x', links: [], routes: [], sysctls: {} });
    const host = obs.host!;
    const withStray = {
      ...host,
      links: [...host.links, { ifname: 'hdead', up: true, alias: linkAlias(HOST, 'uplink:vpc-gone'), addrs: [] }, { ifname: 'foreign0', up: true, alias: 'someone else', addrs: [] }],
      routes: [...host.routes, { dst: '203.0.113.99', gateway: v.uplink.routerIp, dev: v.uplink.hostSide }, { dst: '192.0.2.0/24', dev: 'foreign0' }],
    };
    const steps = planNetwork(d, { host: withStray, netns }, policyFor);
    assert.deepEqual(summary(steps), [
      `leftover:${strayRouter} | delete links of ${strayRouter}`,
      `leftover:${stray} | delete veth of ${stray}`,
      `leftover:netns | delete netns ${stray}, ${strayRouter}`,
      'host | delete stale uplinks hdead',
      'host | delete stale public routes',
    ]);
    assert.deepEqual(steps[2].op, { type: 'ip', netns: null, lines: [`netns del ${stray}`, `netns del ${strayRouter}`], bestEffort: true });
    const routeDel = steps[4].op;
    assert.deepEqual(routeDel.type === 'ip' && routeDel.lines, [`route del 203.0.113.99/32 via ${v.uplink.routerIp} dev ${v.uplink.hostSide}`]);
  });

  it('re-addresses an uplink whose /30 moved (flush, then replace, then the routes again)', () => {
    const obs = converged(d);
    const host = obs.host!;
    const links = host.links.map((l) => (l.ifname === v.uplink.hostSide ? { ...l, addrs: ['169.254.0.5/30'] } : l));
    const steps = planNetwork(d, { ...obs, host: { ...host, links } }, policyFor);
    assert.deepEqual(summary(steps), [`vpc:vpc-a | address host side of uplink ${v.uplink.hostSide}`, 'vpc:vpc-a | route public IPs of vpc-a']);
    const op = steps[0].op;
    assert.equal(op.type === 'ip' && op.lines[0], `addr flush dev ${v.uplink.hostSide}`);
  });
});

describe('policy extensions (e.g. bandwidth priority maps)', () => {
  const d = deriveHostNetwork(input());
  const v = d.vpcs[0];
  const ext = (prio: [string, string][]): ForwardPolicy => ({
    ...POLICY,
    postRules: 'oifname "u1" meta priority set ip saddr map @eip_prio_up',
    maps: [{ name: 'eip_prio_up', type: 'ipv4_addr : classid', elements: new Map(prio) }],
  });

  it('declares the map with its elements and a shape chain after source NAT', () => {
    const t = renderNftTable(v, ext([['203.0.113.10', '1:a']]));
    assert.match(t, /map eip_prio_up \{\n    type ipv4_addr : classid;\n    elements = \{ 203\.0\.113\.10 : 1:a \}\n  \}/);
    assert.match(t, /chain shape \{\n    type filter hook postrouting priority srcnat \+ 20; policy accept;\n    oifname "u1" meta priority set ip saddr map @eip_prio_up\n  \}/);
    assert.ok(nftObjectNames(v, ext([])).includes('eip_prio_up'));
    assert.equal(nftFingerprint(v, ext([])), nftFingerprint(v, ext([['203.0.113.10', '1:a']])), 'elements are not skeleton');
  });

  it('diffs the extension map by element', () => {
    const before = ext([['203.0.113.10', '1:a']]);
    const after = ext([['203.0.113.10', '1:b']]);
    assert.deepEqual(planNetwork(d, converged(d, before), () => before), []);
    const steps = planNetwork(d, converged(d, before), () => after);
    assert.deepEqual(
      steps.map((s) => s.op),
      [{ type: 'nft', netns: v.netns, script: 'delete element inet eci eip_prio_up { 203.0.113.10 }\nadd element inet eci eip_prio_up { 203.0.113.10 : 1:b }\n' }],
    );
  });
});

describe('applyNetwork', () => {
  const op = (n: string): NetOp => ({ type: 'netnsAdd', name: n });
  const undo = (n: string): NetOp => ({ type: 'netnsDel', name: n });
  const steps: NetStep[] = [
    { unit: 'vpc:a', what: 'a1', op: op('a1'), undo: undo('a1') },
    { unit: 'instance:x', what: 'x1', op: op('x1'), undo: undo('x1') },
    { unit: 'instance:x', what: 'x2 (no undo)', op: op('x2') },
    { unit: 'instance:x', what: 'x3', op: op('x3'), undo: undo('x3') },
    { unit: 'instance:x', what: 'x4 fails', op: op('x4'), undo: undo('x4') },
    { unit: 'instance:y', what: 'y1', op: op('y1'), undo: undo('y1') },
  ];

  it('unwinds the failed unit in reverse (the failed step first), keeps earlier units, names the unit and step', async () => {
    const ran: string[] = [];
    const err = await applyNetwork(steps, async (o) => {
      const name = o.type === 'netnsAdd' || o.type === 'netnsDel' ? o.name : '?';
      ran.push(`${o.type}:${name}`);
      if (o.type === 'netnsAdd' && name === 'x4') throw new Error('boom');
      if (o.type === 'netnsDel' && name === 'x3') throw new Error('undo failed too');
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof NetApplyError);
    assert.equal(err.unit, 'instance:x');
    assert.equal(err.step, 'x4 fails');
    assert.match(err.message, /instance:x.*x4 fails.*boom/);
    assert.equal(err.undoErrors.length, 1);
    assert.deepEqual(ran, ['netnsAdd:a1', 'netnsAdd:x1', 'netnsAdd:x2', 'netnsAdd:x3', 'netnsAdd:x4', 'netnsDel:x4', 'netnsDel:x3', 'netnsDel:x1']);
  });

  it('runs a failed step\'s fallback instead and goes on; fails the step only when the fallback fails too', async () => {
    const delta: NetOp = { type: 'nft', netns: 'r', script: 'delta' };
    const whole: NetOp = { type: 'nft', netns: 'r', script: 'whole' };
    const withFallback: NetStep[] = [{ unit: 'vpc:a', what: 'sg delta', op: delta, fallback: whole }, { unit: 'vpc:a', what: 'after', op: op('a2') }];
    const ran: string[] = [];
    await applyNetwork(withFallback, async (o) => {
      ran.push(o.type === 'nft' ? o.script : o.type);
      if (o === delta) throw new Error('kernel changed');
    });
    assert.deepEqual(ran, ['delta', 'whole', 'netnsAdd']);
    await assert.rejects(
      applyNetwork(withFallback, async () => {
        throw new Error('both fail');
      }),
      (e: unknown) => e instanceof NetApplyError && e.step === 'sg delta' && /both fail/.test(e.message),
    );
  });

  it('runs every step when nothing fails and reports the count', async () => {
    let n = 0;
    assert.equal(await applyNetwork(steps, async () => void n++), steps.length);
    assert.equal(n, steps.length);
  });
});

describe('security groups: converged by delta, outside the table fingerprint', () => {
  const groups = [sg('sg-1', 'vpc-a', [allowIn('TCP', '80/80')]), sg('sg-2', 'vpc-a', [allowIn('UDP', '53/53')])];
  const sgFor = (gs: typeof groups) => (v: HostNetwork['vpcs'][number]) => securityGroupPolicy(v, gs);
  const d = deriveHostNetwork(input());
  const v = d.vpcs[0];
  const withA3 = deriveHostNetwork(input({ groups: [...input().groups, group('eci-a3', 'vpc-a', 'vsw-a1', '10.0.1.11', ['sg-1'])] }));
  const a3 = withA3.vpcs[0].instances.find((i) => i.groupId === 'eci-a3')!;
  const nftSteps = (steps: NetStep[]) => steps.filter((s) => s.op.type === 'nft');
  const script = (st: NetStep) => (st.op.type === 'nft' ? st.op.script : '');

  it('a converged host with security groups plans nothing', () => {
    assert.deepEqual(planNetwork(d, converged(d, sgFor(groups)(v)), sgFor(groups)), []);
  });

  it('the fingerprint and object names leave membership and rules out; the full table still carries them', () => {
    const p = sgFor(groups)(v);
    const changed = sgFor([sg('sg-1', 'vpc-a', [allowIn('TCP', '22/22')])])(withA3.vpcs[0]);
    assert.equal(nftFingerprint(v, p), nftFingerprint(withA3.vpcs[0], changed));
    assert.deepEqual(nftObjectNames(v, p), nftObjectNames(withA3.vpcs[0], changed));
    assert.ok(nftObjectNames(v, p).includes('sg_in') && !nftObjectNames(v, p).includes(memberSetName('sg-1')));
    const t = renderNftTable(v, p);
    assert.match(t, new RegExp(`set ${memberSetName('sg-1')} \\{ type ipv4_addr; elements = \\{ 10\\.0\\.1\\.10 \\}; \\}`));
    assert.match(t, new RegExp(`chain ${ingressChainName(['sg-1'])} \\{\\n    ip saddr @${memberSetName('sg-1')} accept comment "inner"\\n    meta nfproto ipv4 tcp dport 80 accept comment "sgr-TCP80x801"\\n    drop comment "sg:[0-9a-f]{16}"\\n  \\}`));
    assert.match(t, new RegExp(`"${v.instances[0].routerVeth}" : jump ${ingressChainName(['sg-1'])}`));
  });

  it('an instance joining a router with members: SG element adds with its inst_addr element, one nft step, no reload', () => {
    const p = sgFor(groups);
    const steps = planNetwork(withA3, converged(d, p(v)), p);
    const nft = nftSteps(steps);
    assert.deepEqual(summary(nft), [`vpc:vpc-a | update nft elements and security groups in ${v.netns}`]);
    const rv = a3.routerVeth;
    assert.equal(
      script(nft[0]),
      `add element inet eci inst_addr { "${rv}" . 10.0.1.11 }\n` +
        `add element inet eci ${memberSetName('sg-1')} { 10.0.1.11 }\n` +
        `add element inet eci sg_in { "${rv}" : jump ${ingressChainName(['sg-1'])} }\n` +
        `add element inet eci sg_out { "${rv}" : jump ${egressChainName(['sg-1'])} }\n` +
        `add element inet eci sg_ports { "${rv}" }\n`,
    );
    // Should the kernel refuse the delta (changed since the listing), the whole table is loaded instead.
    assert.deepEqual(nft[0].fallback, { type: 'nft', netns: v.netns, script: renderNftTable(withA3.vpcs[0], p(withA3.vpcs[0])) });
    // The instance's own unit follows as before.
    assert.ok(steps.some((s) => s.unit === 'instance:eci-a3' && s.what.startsWith('create veth')));
  });

  it('an instance leaving: its elements go, the chains it shared stay', () => {
    const p = sgFor(groups);
    const steps = planNetwork(d, converged(withA3, p(withA3.vpcs[0])), p);
    const nft = nftSteps(steps);
    assert.equal(nft.length, 1);
    const rv = a3.routerVeth;
    assert.equal(
      script(nft[0]),
      `delete element inet eci inst_addr { "${rv}" . 10.0.1.11 }\n` +
        `delete element inet eci ${memberSetName('sg-1')} { 10.0.1.11 }\n` +
        `delete element inet eci sg_in { "${rv}" }\n` +
        `delete element inet eci sg_out { "${rv}" }\n` +
        `delete element inet eci sg_ports { "${rv}" }\n`,
    );
  });

  it('a rule change: one delta that flushes and refills only that group set\'s chain', () => {
    const after = [sg('sg-1', 'vpc-a', [allowIn('TCP', '80/80'), allowIn('TCP', '443/443', '0.0.0.0/0', 2)]), groups[1]];
    const steps = planNetwork(d, converged(d, sgFor(groups)(v)), sgFor(after));
    assert.deepEqual(summary(steps), [`vpc:vpc-a | update nft security groups in ${v.netns}`]);
    const chain = ingressChainName(['sg-1']);
    const lines = script(steps[0]).trim().split('\n');
    assert.equal(lines[0], `flush chain inet eci ${chain}`);
    assert.ok(lines.slice(1).every((l) => l.startsWith(`add rule inet eci ${chain} `)), lines.join('\n'));
    assert.deepEqual(lines.slice(1, -1).map((l) => l.slice(`add rule inet eci ${chain} `.length)), [
      `ip saddr @${memberSetName('sg-1')} accept comment "inner"`,
      'meta nfproto ipv4 tcp dport 80 accept comment "sgr-TCP80x801"',
      'meta nfproto ipv4 tcp dport 443 accept comment "sgr-TCP443x4432"',
    ]);
    assert.match(lines.at(-1)!, / drop comment "sg:[0-9a-f]{16}"$/);
    // Applied, the kernel then holds the new mark: nothing more to do.
    assert.deepEqual(planNetwork(d, converged(d, sgFor(after)(v)), sgFor(after)), []);
  });

  it('kernel drift: a chain without its mark (flushed) is refilled by the delta; an unreadable state reloads the table', () => {
    const p = sgFor(groups);
    const obs = converged(d, p(v));
    const r = obs.netns.get(v.netns)!;
    const chain = egressChainName(['sg-1']);
    const flushedChain = new Map(obs.netns).set(v.netns, { ...r, nft: { ...r.nft!, marks: { ...r.nft!.marks, [chain]: '' } } });
    const steps = planNetwork(d, { ...obs, netns: flushedChain }, p);
    assert.deepEqual(summary(steps), [`vpc:vpc-a | update nft security groups in ${v.netns}`]);
    assert.match(script(steps[0]), new RegExp(`^flush chain inet eci ${chain}\\n(add rule inet eci ${chain} .*\\n)+$`));
    // A rule deleted before the marked last one: the count differs, the chain is refilled.
    const ruleGone = new Map(obs.netns).set(v.netns, { ...r, nft: { ...r.nft!, ruleCounts: { ...r.nft!.ruleCounts, [chain]: r.nft!.ruleCounts![chain] - 1 } } });
    assert.match(script(planNetwork(d, { ...obs, netns: ruleGone }, p)[0]), new RegExp(`^flush chain inet eci ${chain}\\n`));
    // The ports set disagreeing with the ingress map, or a vmap naming a chain that is gone: reload.
    const els = r.nft!.elements;
    const noPorts = new Map(obs.netns).set(v.netns, { ...r, nft: { ...r.nft!, elements: { ...els, sg_ports: new Map() } } });
    assert.deepEqual(summary(planNetwork(d, { ...obs, netns: noPorts }, p)), [`vpc:vpc-a | load nft table inet eci in ${v.netns}`]);
    const noChain = new Map(obs.netns).set(v.netns, { ...r, nft: { ...r.nft!, objects: r.nft!.objects.filter((o) => o !== chain) } });
    assert.deepEqual(summary(planNetwork(d, { ...obs, netns: noChain }, p)), [`vpc:vpc-a | load nft table inet eci in ${v.netns}`]);
    // A flushed table (no fingerprint) reloads whole, security groups included.
    const flushed = new Map(obs.netns).set(v.netns, { ...r, nft: { ...r.nft!, fingerprint: '' } });
    const full = planNetwork(d, { ...obs, netns: flushed }, p);
    assert.deepEqual(summary(full), [`vpc:vpc-a | load nft table inet eci in ${v.netns}`]);
    assert.match(script(full[0]), new RegExp(`chain ${chain} \\{`));
  });
});
