// Kernel test of the network topology: real namespaces, veths, routes and nftables, real packets
// between plain processes (node echo servers/probes started with nsenter). Root only.
//
// One sandbox host with an "Internet" client namespace (198.51.100.2), two VPCs with the same CIDR:
//   VPC A 10.0.0.0/16: vSwitch A1 10.0.1.0/24 (a1 .10 with EIP 203.0.113.10, a2 .11),
//                      vSwitch A2 10.0.2.0/24 (a3 .10, a4 .11); NAT gateway with SNAT entries scoped
//                      to A1 (→ .20), the VPC CIDR (→ .21) and 10.0.2.10/32 (→ .22), and DNAT entries on
//                      .30 (any-port → a4) and .31 (tcp 8080 → a2:80, udp 5353 → a2:53, tcp 9000-9002 → a3:80-82);
//   VPC B 10.0.0.0/16: vSwitch B1 10.0.1.0/24 (b1 .10 with EIP 203.0.113.40, b2 .11, no NAT).
// Security groups from the security-group compiler: sg-web (tcp 80 only), sg-nat (tcp 80-82, udp 53), sg-b (tcp 80).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { applyNetwork, NetApplyError, runOp } from '../../src/agent/net/apply.ts';
import { destroySandboxHost, ensureSandboxHost } from '../../src/agent/net/host.ts';
import { HostObserver, observeHost, observeNft } from '../../src/agent/net/observe.ts';
import { planNetwork, type NetStep } from '../../src/agent/net/plan.ts';
import { securityGroupPolicy, type ForwardPolicy } from '../../src/agent/net/render.ts';
import { deriveHostNetwork, type HostNetwork, type HostNetworkInput, type VpcNet } from '../../src/agent/net/topology.ts';
import { listNetns } from '../../src/agent/net/exec.ts';
import { hostNetnsName, instanceNetnsName, instanceVeth, routerNetnsName } from '../../src/agent/net/names.ts';
import type { SecurityGroupData } from '../../src/core/model.ts';
import { inetNamespace, kernelSkipReason, listLeftovers, nsRun, probe, startEcho, stopProcesses, tcp, udp, uniqueHostId } from './helpers/kernel.ts';
import { memberSetName } from '../../src/agent/net/security-groups.ts';
import { allowIn, eip, fwd, group, nat, sg, snat, vpc, vsw } from './helpers/net-fixtures.ts';

const hostId = uniqueHostId();
let groups: SecurityGroupData[] = [
  sg('sg-web', 'vpc-a', [allowIn('TCP', '80/80')]),
  sg('sg-nat', 'vpc-a', [allowIn('TCP', '80/82'), allowIn('UDP', '53/53')]),
  sg('sg-b', 'vpc-b', [allowIn('TCP', '80/80')]),
];

function baseInput(hostNetns: string): HostNetworkInput {
  return {
    hostId,
    hostNetns,
    groups: [
      group('eci-a1', 'vpc-a', 'vsw-a1', '10.0.1.10', ['sg-web']),
      group('eci-a2', 'vpc-a', 'vsw-a1', '10.0.1.11', ['sg-nat']),
      group('eci-a3', 'vpc-a', 'vsw-a2', '10.0.2.10', ['sg-nat']),
      group('eci-a4', 'vpc-a', 'vsw-a2', '10.0.2.11', ['sg-nat']),
      group('eci-b1', 'vpc-b', 'vsw-b1', '10.0.1.10', ['sg-b']),
      group('eci-b2', 'vpc-b', 'vsw-b1', '10.0.1.11', ['sg-b']),
    ],
    vpcs: [vpc('vpc-a', '10.0.0.0/16', '2026-01-01T00:00:00Z'), vpc('vpc-b', '10.0.0.0/16', '2026-01-02T00:00:00Z')],
    vSwitches: [vsw('vsw-a1', 'vpc-a', '10.0.1.0/24'), vsw('vsw-a2', 'vpc-a', '10.0.2.0/24'), vsw('vsw-b1', 'vpc-b', '10.0.1.0/24')],
    eips: [
      eip('eip-a1', '203.0.113.10', 'InUse', 'EciInstance', 'eci-a1'),
      eip('eip-b1', '203.0.113.40', 'Associating', 'EciInstance', 'eci-b1'),
      eip('eip-n20', '203.0.113.20', 'InUse', 'Nat', 'ngw-a'),
      eip('eip-n21', '203.0.113.21', 'InUse', 'Nat', 'ngw-a'),
      eip('eip-n22', '203.0.113.22', 'InUse', 'Nat', 'ngw-a'),
      eip('eip-n30', '203.0.113.30', 'InUse', 'Nat', 'ngw-a'),
      eip('eip-n31', '203.0.113.31', 'InUse', 'Nat', 'ngw-a'),
    ],
    natGateways: [nat('ngw-a', 'vpc-a')],
    snatEntries: [
      snat('snat-1', 'ngw-a', { vSwitchId: 'vsw-a1' }, ['203.0.113.20']),
      snat('snat-2', 'ngw-a', { cidr: '10.0.0.0/16' }, ['203.0.113.21']),
      snat('snat-3', 'ngw-a', { cidr: '10.0.2.10' }, ['203.0.113.22']),
    ],
    forwardEntries: [
      fwd('fwd-1', 'ngw-a', '203.0.113.30', 'any', 'any', '10.0.2.11', 'any'),
      fwd('fwd-2', 'ngw-a', '203.0.113.31', 'tcp', '8080', '10.0.1.11', '80'),
      fwd('fwd-3', 'ngw-a', '203.0.113.31', 'udp', '5353', '10.0.1.11', '53'),
      fwd('fwd-4', 'ngw-a', '203.0.113.31', 'tcp', '9000/9002', '10.0.2.10', '80/82'),
    ],
  };
}

/**
 * The security-group compiler's policy plus a bandwidth-style extension (a classid priority map keyed
 * by EIP, diffed by element, and a `meta priority set` rule), to prove both splice in and converge.
 */
function policyFor(v: VpcNet): ForwardPolicy {
  const sgPolicy = securityGroupPolicy(v, groups);
  const prio = new Map(v.eips.map((e) => [e.ip, `1:${Number(e.ip.split('.')[3]).toString(16)}`]));
  return {
    ...sgPolicy,
    postRules: `oifname "${v.uplink.routerSide}" meta priority set ip saddr map @eip_prio_up`,
    maps: [{ name: 'eip_prio_up', type: 'ipv4_addr : classid', elements: prio }],
  };
}

async function planFor(desired: HostNetwork): Promise<NetStep[]> {
  const observed = await observeHost(desired.hostNetns, desired.prefix);
  return planNetwork(desired, observed, policyFor);
}

/** observe → plan → apply; returns the steps applied. */
async function converge(input: HostNetworkInput): Promise<NetStep[]> {
  const steps = await planFor(deriveHostNetwork(input));
  await applyNetwork(steps);
  return steps;
}

const ns = (id: string) => instanceNetnsName(hostId, id);
const reloads = (s: NetStep) => s.op.type === 'nft' && s.op.script.includes('delete table inet eci');
const INET_PORTS = ['tcp:7000', 'udp:7001'];

describe('network topology on the real kernel', { skip: kernelSkipReason }, () => {
  let hostNetns = '';
  let inet: Awaited<ReturnType<typeof inetNamespace>>;
  let input: HostNetworkInput;
  const echo = new Map<string, ChildProcess>();

  before(async () => {
    hostNetns = await ensureSandboxHost(hostId);
    inet = await inetNamespace(hostId);
    input = baseInput(hostNetns);
    await converge(input);
    const servers: [string, string, string[]][] = [
      [inet.netns, 'internet', INET_PORTS],
      [ns('eci-a1'), 'a1', ['tcp:80', 'tcp:81']],
      [ns('eci-a2'), 'a2', ['tcp:80', 'udp:53']],
      [ns('eci-a3'), 'a3', ['tcp:80', 'tcp:81', 'tcp:82']],
      [ns('eci-a4'), 'a4', ['tcp:80', 'tcp:81', 'udp:53']],
      [ns('eci-b1'), 'b1', ['tcp:80']],
      [ns('eci-b2'), 'b2', ['tcp:80']],
    ];
    await Promise.all(servers.map(async ([n, name, ports]) => echo.set(name, await startEcho(n, name, ports))));
  });

  after(async () => {
    await stopProcesses();
    // Converge to "nothing on this host", then remove the sandbox; the leftover check must find nothing.
    try {
      await converge({ ...baseInput(hostNetnsName(hostId)), groups: [] });
    } finally {
      await inet?.destroy();
      await destroySandboxHost(hostId);
    }
    assert.deepEqual(await listLeftovers(hostId), []);
  });

  it('converging twice issues no steps', async () => {
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
  });

  it('1: without EIP or SNAT an instance has no way in or out', async () => {
    const [[out, outUdp], [inbound]] = await Promise.all([
      probe(ns('eci-b2'), [tcp(inet.ip, 7000), udp(inet.ip, 7001)]),
      probe(inet.netns, [tcp('10.0.1.11', 80)]),
    ]);
    assert.equal(out, 'timeout');
    assert.equal(outUdp, 'timeout');
    assert.match(inbound, /^(timeout|error:)/);
  });

  it('2: an EIP is reachable on the ports its security groups allow only, and egresses with the EIP', async () => {
    const [[allowed, closed, own], [local81], [fromA1], [fromB1]] = await Promise.all([
      probe(inet.netns, [tcp('203.0.113.10', 80), tcp('203.0.113.10', 81), tcp('203.0.113.40', 80)]),
      probe(ns('eci-a1'), [tcp('127.0.0.1', 81)]),
      probe(ns('eci-a1'), [tcp(inet.ip, 7000)]),
      probe(ns('eci-b1'), [udp(inet.ip, 7001)]),
    ]);
    assert.equal(allowed, `a1 80 ${inet.ip}`);
    assert.equal(closed, 'timeout');
    assert.equal(own, `b1 80 ${inet.ip}`);
    // Port 81 is served: the security group, not a missing listener, closes it.
    assert.equal(local81, 'a1 81 127.0.0.1');
    // 4: a1 is also in the SNAT scope of vSwitch A1, yet egresses with its own EIP.
    assert.equal(fromA1, 'internet 7000 203.0.113.10');
    assert.equal(fromB1, 'internet 7001 203.0.113.40');
  });

  it('3: SNAT gives a way out with the SNAT IP, most specific scope wins, inbound stays closed', async () => {
    const [[a2], [a3], [a4], inbound] = await Promise.all([
      ...['eci-a2', 'eci-a3', 'eci-a4'].map((id) => probe(ns(id), [tcp(inet.ip, 7000)])),
      probe(inet.netns, [tcp('203.0.113.20', 80), tcp('203.0.113.21', 80), tcp('203.0.113.22', 80), udp('203.0.113.20', 53)]),
    ]);
    assert.equal(a2, 'internet 7000 203.0.113.20', 'vSwitch scope beats the VPC CIDR');
    assert.equal(a3, 'internet 7000 203.0.113.22', 'a /32 custom CIDR beats the VPC CIDR');
    assert.equal(a4, 'internet 7000 203.0.113.21', 'the VPC CIDR covers the rest');
    assert.deepEqual(inbound, ['timeout', 'timeout', 'timeout', 'timeout']);
  });

  it('5: DNAT any-port IP mapping and tcp/udp port mappings including a range', async () => {
    const got = await probe(inet.netns, [
      tcp('203.0.113.30', 80),
      tcp('203.0.113.30', 81),
      udp('203.0.113.30', 53),
      tcp('203.0.113.31', 8080),
      udp('203.0.113.31', 5353),
      tcp('203.0.113.31', 9000),
      tcp('203.0.113.31', 9001),
      tcp('203.0.113.31', 9002),
      tcp('203.0.113.31', 9003),
      tcp('203.0.113.31', 80),
    ]);
    assert.deepEqual(got, [
      `a4 80 ${inet.ip}`,
      `a4 81 ${inet.ip}`,
      `a4 53 ${inet.ip}`,
      `a2 80 ${inet.ip}`,
      `a2 53 ${inet.ip}`,
      `a3 80 ${inet.ip}`,
      `a3 81 ${inet.ip}`,
      `a3 82 ${inet.ip}`,
      'timeout',
      'timeout',
    ]);
  });

  it('6: instances of one VPC talk across vSwitches; two VPCs with the same CIDR are isolated', async () => {
    // 10.0.1.11 is a2 in VPC A and b2 in VPC B: each VPC sees its own.
    const [[toA3, fromA1], [fromB1, toOtherVpc]] = await Promise.all([
      probe(ns('eci-a1'), [tcp('10.0.2.10', 80), tcp('10.0.1.11', 80)]),
      probe(ns('eci-b1'), [tcp('10.0.1.11', 80), tcp('10.0.2.10', 80)]),
    ]);
    assert.equal(toA3, 'a3 80 10.0.1.10');
    assert.equal(fromA1, 'a2 80 10.0.1.10');
    assert.equal(fromB1, 'b2 80 10.0.1.10');
    // b1's packet leaves VPC B with b1's EIP and finds no route to 10.0.2.10: unreachable or silence.
    assert.match(toOtherVpc, /^(timeout|error:)/);
  });

  it('9: EIP disassociation is one element per map and one route, leaves no trace, and re-association restores it', async () => {
    const router = routerNetnsName(hostId, 'vpc-a');
    const without = { ...input, eips: input.eips.filter((e) => e.data.AllocationId !== 'eip-a1') };
    const steps = await planFor(deriveHostNetwork(without));
    assert.deepEqual(
      steps.map((s) => [s.unit, s.op.type]),
      [['host', 'ip'], ['vpc:vpc-a', 'nft']],
    );
    const nftStep = steps.find((s) => s.op.type === 'nft')!;
    assert.equal(
      nftStep.op.type === 'nft' && nftStep.op.script,
      'delete element inet eci eip_in { 203.0.113.10 }\ndelete element inet eci eip_out { 10.0.1.10 }\ndelete element inet eci eip_prio_up { 203.0.113.10 }\n',
    );
    assert.equal((await observeNft(router))?.elements.eip_prio_up.get('203.0.113.10'), '1:a', 'the extension map holds the EIP class');
    await applyNetwork(steps);
    const nft = await observeNft(router);
    assert.equal(nft?.elements.eip_prio_up.has('203.0.113.10'), false);
    assert.equal(nft?.elements.eip_in.has('203.0.113.10'), false);
    assert.equal(nft?.elements.eip_out.has('10.0.1.10'), false);
    const hostRoutes = await nsRun(hostNetns, ['ip', 'route']);
    assert.doesNotMatch(hostRoutes, /203\.0\.113\.10 /);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.10', 80)]))[0].startsWith('a1'), false);
    // Without its EIP, a1 falls back to its vSwitch's SNAT entry.
    assert.equal((await probe(ns('eci-a1'), [tcp(inet.ip, 7000)]))[0], 'internet 7000 203.0.113.20');
    assert.deepEqual(await planFor(deriveHostNetwork(without)), []);

    const again = await converge(input);
    assert.deepEqual(again.map((s) => s.op.type).sort(), ['ip', 'nft']);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.10', 80)]))[0], `a1 80 ${inet.ip}`);
  });

  it('9: deleting a group removes its netns, veth, route and elements; nothing else changes', async () => {
    const router = routerNetnsName(hostId, 'vpc-b');
    const without = { ...input, groups: input.groups.filter((g) => g.ContainerGroupId !== 'eci-b2') };
    await stopChild(echo.get('b2')!);
    const steps = await converge(without);
    // Found by the alias on its router-side veth, deleted there (synchronously, taking eth0 with it).
    assert.ok(steps.some((s) => s.what === `delete stale instance veths ${instanceVeth(hostId, 'eci-b2').routerSide}`), JSON.stringify(steps.map((s) => s.what)));
    assert.ok(!steps.some(reloads), 'membership changes are SG/element deltas, not a table reload');
    assert.deepEqual(await planFor(deriveHostNetwork(without)), []);
    assert.equal((await listNetns()).includes(ns('eci-b2')), false);
    const routerLinks = await nsRun(router, ['ip', '-o', 'link']);
    assert.doesNotMatch(routerLinks, new RegExp(instanceVeth(hostId, 'eci-b2').routerSide));
    assert.doesNotMatch(await nsRun(router, ['ip', 'route']), /10\.0\.1\.11/);
    const nft = await observeNft(router);
    assert.deepEqual([...nft!.elements.inst_addr.keys()], [`"${instanceVeth(hostId, 'eci-b1').routerSide}" . 10.0.1.10`]);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.40', 80)]))[0], `b1 80 ${inet.ip}`);
    // Bring it back for the tests that follow (no server: only the network is checked).
    const back = await converge(input);
    assert.ok(!back.some(reloads), 'an instance joining a router with members does not reload the table');
    assert.ok(back.some((s) => s.unit === 'vpc:vpc-b' && s.op.type === 'nft' && s.op.script.includes(`add element inet eci sg_ports { "${instanceVeth(hostId, 'eci-b2').routerSide}" }`)));
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
  });

  it('a security-group rule change is one delta on the live table: the port opens, nothing is reloaded', async () => {
    const before = groups;
    try {
      groups = groups.map((g) => (g.SecurityGroupId === 'sg-web' ? { ...g, Permissions: [...g.Permissions, allowIn('TCP', '81/81', '0.0.0.0/0', 2)] } : g));
      const steps = await converge(input);
      assert.deepEqual(steps.map((s) => `${s.unit} | ${s.what}`), [`vpc:vpc-a | update nft security groups in ${routerNetnsName(hostId, 'vpc-a')}`]);
      const script = steps[0].op.type === 'nft' ? steps[0].op.script : '';
      assert.ok(!script.includes('delete table') && /^flush chain inet eci sgi_[0-9a-f]+\n/.test(script), script);
      assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
      assert.equal((await probe(inet.netns, [tcp('203.0.113.10', 81)]))[0], `a1 81 ${inet.ip}`);
    } finally {
      groups = before;
    }
    await converge(input);
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.10', 81)], 400))[0], 'timeout');
  });

  it('a delta the kernel refuses (changed since the listing) falls back to the whole table in the same pass', async () => {
    const router = routerNetnsName(hostId, 'vpc-b');
    const without = { ...input, groups: input.groups.filter((g) => g.ContainerGroupId !== 'eci-b2') };
    const steps = await planFor(deriveHostNetwork(without));
    const delta = steps.find((s) => s.unit === 'vpc:vpc-b' && s.op.type === 'nft');
    assert.ok(delta?.fallback && delta.op.type === 'nft' && delta.op.script.includes(`delete element inet eci ${memberSetName('sg-b')} { 10.0.1.11 }`), JSON.stringify(delta));
    // The element the delta deletes disappears between the listing and the apply.
    await nsRun(router, ['nft', 'delete', 'element', 'inet', 'eci', memberSetName('sg-b'), '{ 10.0.1.11 }']);
    await applyNetwork(steps);
    assert.deepEqual(await planFor(deriveHostNetwork(without)), []);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.40', 80)]))[0], `b1 80 ${inet.ip}`);
    await converge(input);
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
  });

  it('drift: a flushed inet eci table and a deleted veth are repaired by one plan/apply', async () => {
    const router = routerNetnsName(hostId, 'vpc-a');
    await nsRun(router, ['nft', 'flush', 'table', 'inet', 'eci']);
    await nsRun(router, ['ip', 'link', 'del', instanceVeth(hostId, 'eci-a3').routerSide]);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.10', 80)], 400))[0].startsWith('a1'), false);
    const steps = await converge(input);
    assert.ok(steps.some((s) => s.unit === 'vpc:vpc-a' && s.op.type === 'nft' && s.op.script.includes('delete table inet eci')), 'the table is reloaded whole');
    assert.ok(steps.some((s) => s.unit === 'instance:eci-a3' && s.what.startsWith('create veth')), 'the veth is recreated');
    assert.ok(steps.every((s) => s.unit === 'vpc:vpc-a' || s.unit === 'instance:eci-a3'), JSON.stringify(steps.map((s) => s.what)));
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
    const [eipOk, dnatOk] = await probe(inet.netns, [tcp('203.0.113.10', 80), tcp('203.0.113.31', 9000)]);
    assert.equal(eipOk, `a1 80 ${inet.ip}`);
    assert.equal(dnatOk, `a3 80 ${inet.ip}`);
  });

  it('a failing step unwinds its unit and names it', async () => {
    const extra = { ...input, groups: [...input.groups, { ...input.groups[0], ContainerGroupId: 'eci-a9', IntranetIp: '10.0.1.99', SecurityGroupIds: [] }] };
    const steps = await planFor(deriveHostNetwork(extra));
    await assert.rejects(
      applyNetwork(steps, async (op) => {
        if (op.type === 'sysctl' && Object.keys(op.values)[0].includes('proxy_arp')) throw new Error('injected');
        await runOp(op);
      }),
      (e: unknown) => e instanceof NetApplyError && e.unit === 'instance:eci-a9' && /injected/.test(e.message),
    );
    const after = await observeHost(hostNetns, deriveHostNetwork(input).prefix);
    assert.equal(after.netns.has(ns('eci-a9')), false, 'the instance netns was unwound');
    const router = after.netns.get(routerNetnsName(hostId, 'vpc-a'))!;
    assert.equal(router.links.some((l) => l.ifname === instanceVeth(hostId, 'eci-a9').routerSide), false, 'its veth was unwound');
    // The rest of the unit's VPC (elements added before the failure) converges back on the next pass.
    await converge(input);
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
  });

  it('HostObserver: between resyncs it plans from what it re-read after its own changes; a full observe (or invalidate) sees drift', async () => {
    const prefix = deriveHostNetwork(input).prefix;
    const observer = new HostObserver();
    const fresh = () => observeHost(hostNetns, prefix);
    assert.deepEqual(await observer.observe(hostNetns, prefix, { full: true }), await fresh());
    // A change made through the observer: what it re-read equals a fresh full read, and plans nothing more.
    const extra = { ...input, groups: [...input.groups, { ...input.groups[0], ContainerGroupId: 'eci-a9', IntranetIp: '10.0.1.99', SecurityGroupIds: [] }] };
    const throughObserver = async (i: HostNetworkInput, full = false) => {
      const desired = deriveHostNetwork(i);
      const steps = planNetwork(desired, await observer.observe(hostNetns, prefix, { full }), policyFor);
      await applyNetwork(steps);
      observer.applied(steps);
      return steps;
    };
    assert.ok((await throughObserver(extra)).some((s) => s.what === `create netns ${ns('eci-a9')}`));
    assert.deepEqual(await observer.observe(hostNetns, prefix), await fresh());
    assert.deepEqual(planNetwork(deriveHostNetwork(extra), await observer.observe(hostNetns, prefix), policyFor), []);
    await throughObserver(input);
    assert.deepEqual(await observer.observe(hostNetns, prefix), await fresh());
    assert.equal((await observer.observe(hostNetns, prefix)).netns.has(ns('eci-a9')), false);
    // A namespace that appears between resyncs is read (here a leftover the plan removes).
    const stray = ns('eci-zz');
    await nsRun(null, ['ip', 'netns', 'add', stray]);
    assert.ok((await throughObserver(input)).some((s) => s.what.includes(stray)), 'the new namespace was seen and removed');
    assert.equal((await listNetns()).includes(stray), false);
    // Drift made behind the agent's back is not seen between resyncs (the contract), but by the next full one.
    const veth = instanceVeth(hostId, 'eci-a3').routerSide;
    await nsRun(routerNetnsName(hostId, 'vpc-a'), ['ip', 'link', 'del', veth]);
    assert.deepEqual(planNetwork(deriveHostNetwork(input), await observer.observe(hostNetns, prefix), policyFor), []);
    observer.invalidate();
    assert.ok(planNetwork(deriveHostNetwork(input), await observer.observe(hostNetns, prefix), policyFor).some((s) => s.what.startsWith('create veth')), 'after invalidate() the drift is seen');
    await nsRun(routerNetnsName(hostId, 'vpc-a'), ['ip', 'link', 'del', instanceVeth(hostId, 'eci-a4').routerSide]);
    assert.ok((await throughObserver(input, true)).filter((s) => s.what.startsWith('create veth')).length >= 2, 'a full pass repairs both');
    assert.deepEqual(await planFor(deriveHostNetwork(input)), []);
    assert.equal((await probe(inet.netns, [tcp('203.0.113.31', 9000)]))[0], `a3 80 ${inet.ip}`);
  });

  it('9: removing every group leaves no netns, link, route or nft table of this host behind', async () => {
    await stopProcesses();
    const empty = { ...input, groups: [] };
    await converge(empty);
    assert.deepEqual(await listLeftovers(hostId, [hostNetns, inet.netns]), []);
    assert.deepEqual(await planFor(deriveHostNetwork(empty)), []);
  });
});

/** Kills one process this test started, by PID, and waits for it. */
function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  });
}
