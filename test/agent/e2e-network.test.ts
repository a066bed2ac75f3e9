// End to end, network semantics of issue 3 through the real API and agent: `eci server` + `eci agent`
// (its kernel objects in a host netns of this run), driven by the official VPC/ECS/ECI SDKs, proven by
// real packets between namespaces. Echo servers run inside the instances' namespaces and answer with
// the peer address they saw, so source NAT is checked where it matters. Root only.
//
// Topology (one cluster for the file):
//   VPC A 192.168.0.0/16: vSwitch A1 192.168.1.0/24 (g1 private, g2 with its own EIP), vSwitch A2
//   192.168.2.0/24 (g3 private). g1 and g2 share security group sgA, g3 has sgA3 (each: tcp 8080 open to
//   0.0.0.0/0; members of one basic group reach each other on every port, as in ECS, hence two groups).
//   VPC B 192.168.0.0/16 (same CIDR): vSwitch B1 192.168.1.0/24 (g4), security group sgB.
//   A NAT gateway in VPC A with two EIPs: natIp1 (SNAT for A1, and a TCP port mapping), natIp2 (IP mapping).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/agent/net/exec.ts';
import { instanceNetnsName } from '../../src/agent/net/names.ts';
import { $Eci, $Ecs, $Vpc, EciClient, EcsClient, VpcClient } from '../helpers/sdk.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { describeGroup as describeGroupOf } from './helpers/groups.ts';
import { inetNamespace, probe, startEcho, stopProcesses, tcp, udp } from './helpers/kernel.ts';
import { until } from '../helpers/wait.ts';

const REGION = 'cn-hangzhou';
const ZONE = 'cn-hangzhou-h';
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Group {
  id: string;
  ip: string;
  netns: string;
}

describe('host agent end to end: network', { skip: isRoot ? false : 'needs root (network namespaces, mounts, runc)' }, () => {
  let cluster: TestCluster;
  let eci: EciClient;
  let vpc: VpcClient;
  let ecs: EcsClient;
  let inet: Awaited<ReturnType<typeof inetNamespace>> | undefined;
  const echoes = new Map<string, ChildProcess>();
  let sgA = '';
  let sgA3 = '';
  let g1: Group, g2: Group, g3: Group, g4: Group;
  let g2Eip = '';
  let natId = '';
  let snatTableId = '';
  let forwardTableId = '';
  let natIp1 = '';
  let natIp2 = '';

  const describeGroup = (id: string) => describeGroupOf(eci, id);
  const createVpc = async (cidrBlock: string) => {
    const vpcId = (await vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock }))).body!.vpcId!;
    await until('the VPC to be Available', async () => {
      const r = await vpc.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION, vpcId }));
      return r.body!.vpcs!.vpc![0]?.status === 'Available' ? true : undefined;
    });
    return vpcId;
  };
  const createVSwitch = async (vpcId: string, cidrBlock: string) =>
    (await vpc.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId: ZONE, cidrBlock }))).body!.vSwitchId!;
  const createSg = async (vpcId: string, port: number) => {
    const id = (await ecs.createSecurityGroup(new $Ecs.CreateSecurityGroupRequest({ regionId: REGION, vpcId }))).body!.securityGroupId!;
    await authorize(id, port);
    return id;
  };
  const authorize = (securityGroupId: string, port: number) =>
    ecs.authorizeSecurityGroup(
      new $Ecs.AuthorizeSecurityGroupRequest({ regionId: REGION, securityGroupId, ipProtocol: 'tcp', portRange: `${port}/${port}`, sourceCidrIp: '0.0.0.0/0', policy: 'accept', priority: '1' }),
    );
  const revoke = (securityGroupId: string, port: number) =>
    ecs.revokeSecurityGroup(
      new $Ecs.RevokeSecurityGroupRequest({ regionId: REGION, securityGroupId, ipProtocol: 'tcp', portRange: `${port}/${port}`, sourceCidrIp: '0.0.0.0/0', policy: 'accept', priority: '1' }),
    );
  const createGroup = async (name: string, vSwitchId: string, securityGroupId: string, eip: boolean) =>
    (
      await eci.createContainerGroup(
        new $Eci.CreateContainerGroupRequest({
          regionId: REGION,
          containerGroupName: name,
          cpu: 0.25,
          memory: 0.25,
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 1,
          vSwitchId,
          securityGroupId,
          ...(eip ? { autoCreateEip: true, eipBandwidth: 5 } : {}),
          container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image: 'busybox', command: ['sleep', '3600'] })],
        }),
      )
    ).body!.containerGroupId!;
  const running = async (id: string) => {
    const g = await until(`${id} Running`, async () => {
      const d = await describeGroup(id);
      return d?.status === 'Running' ? d : undefined;
    }, 30_000);
    return g;
  };
  const eipInUse = async (allocationId: string) =>
    until(`${allocationId} InUse`, async () => {
      const r = await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId }));
      const e = r.body!.eipAddresses!.eipAddress![0];
      return e?.status === 'InUse' ? e : undefined;
    });
  /** One TCP probe's answer (`<name> <port> <peer>`), or timeout / error:<code>. */
  const tcpFrom = async (netns: string, host: string, port: number, timeoutMs = 800) => (await probe(netns, [tcp(host, port)], timeoutMs))[0];

  before(async () => {
    cluster = await startCluster({ zoneId: ZONE });
    const key = cluster.server.key('net');
    eci = new EciClient(cluster.server.sdkConfig(key));
    vpc = new VpcClient(cluster.server.sdkConfig(key));
    ecs = new EcsClient(cluster.server.sdkConfig(key));

    const vpcA = await createVpc('192.168.0.0/16');
    const vpcB = await createVpc('192.168.0.0/16');
    const a1 = await createVSwitch(vpcA, '192.168.1.0/24');
    const a2 = await createVSwitch(vpcA, '192.168.2.0/24');
    const b1 = await createVSwitch(vpcB, '192.168.1.0/24');
    sgA = await createSg(vpcA, 8080);
    sgA3 = await createSg(vpcA, 8080);
    const sgB = await createSg(vpcB, 8080);
    const ids = [
      await createGroup('g1', a1, sgA, false),
      await createGroup('g2', a1, sgA, true),
      await createGroup('g3', a2, sgA3, false),
      await createGroup('g4', b1, sgB, false),
    ];
    const ready = await Promise.all(ids.map(running));
    const [d1, d2, d3, d4] = ready.map((d) => ({ id: d.containerGroupId!, ip: d.intranetIp!, netns: instanceNetnsName(cluster.agent.hostId, d.containerGroupId!) }));
    [g1, g2, g3, g4] = [d1, d2, d3, d4];
    g2Eip = ready[1].internetIp!;
    assert.match(g2Eip, /^\d+\.\d+\.\d+\.\d+$/, 'g2 has its EIP');
    for (const [name, g] of [['g1', g1], ['g2', g2], ['g3', g3], ['g4', g4]] as const) echoes.set(name, await startEcho(g.netns, name, ['tcp:8080', 'tcp:9090', 'udp:8080', 'tcp:5201']));
    inet = await inetNamespace(cluster.agent.hostId);
    await startEcho(inet.netns, 'inet', ['tcp:7000']);
  });

  after(async () => {
    if (process.env.ECI_TEST_DEBUG) console.error(cluster?.agent.output());
    await stopProcesses();
    await inet?.destroy();
    await cluster?.destroy();
  });

  it('reaches across vSwitches of one VPC on the ports its security group opens, and never into another VPC with the same CIDR', async () => {
    assert.equal(g4.ip.startsWith('192.168.1.'), true, g4.ip);
    // A1 → A2 and back, private addresses, the source seen unchanged.
    assert.equal(await tcpFrom(g1.netns, g3.ip, 8080), `g3 8080 ${g1.ip}`);
    assert.equal(await tcpFrom(g3.netns, g1.ip, 8080), `g1 8080 ${g3.ip}`);
    assert.equal(await tcpFrom(g2.netns, g3.ip, 8080), `g3 8080 ${g2.ip}`);
    // A port the group does not open.
    assert.equal(await tcpFrom(g1.netns, g3.ip, 9090), 'timeout');
    // VPC B shares the CIDR: its g4 never reaches VPC A's instances, and they never reach g4.
    const fromB = await probe(g4.netns, [tcp(g1.ip, 8080), tcp(g3.ip, 8080), tcp(g2.ip, 8080)], 800);
    for (const a of fromB) assert.doesNotMatch(a, /^g[123] /, `VPC B reached VPC A: ${fromB.join(' | ')}`);
    const toB = await probe(g3.netns, [tcp(g4.ip, 8080)], 800);
    assert.doesNotMatch(toB[0], /^g4 /, 'VPC A reached VPC B');
  });

  it('gives a vSwitch without EIPs a way out through a NAT gateway SNAT entry, while an instance with its own EIP keeps egressing with it', async () => {
    // Before any NAT: the private g1 has no way out; g2 leaves with its EIP.
    assert.equal(await tcpFrom(g1.netns, inet!.ip, 7000), 'timeout');
    assert.equal(await tcpFrom(g2.netns, inet!.ip, 7000), `inet 7000 ${g2Eip}`);

    const groupVpc = (await describeGroup(g1.id))!.vpcId!;
    const vswA1 = (await describeGroup(g1.id))!.vSwitchId!;
    const nat = await vpc.createNatGateway(new $Vpc.CreateNatGatewayRequest({ regionId: REGION, vpcId: groupVpc, vSwitchId: vswA1, natType: 'Enhanced' }));
    natId = nat.body!.natGatewayId!;
    snatTableId = nat.body!.snatTableIds!.snatTableId![0];
    forwardTableId = nat.body!.forwardTableIds!.forwardTableId![0];
    const natEip = async () => {
      const a = await vpc.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, bandwidth: '5' }));
      await vpc.associateEipAddress(new $Vpc.AssociateEipAddressRequest({ regionId: REGION, allocationId: a.body!.allocationId!, instanceId: natId, instanceType: 'Nat' }));
      return (await eipInUse(a.body!.allocationId!)).ipAddress!;
    };
    natIp1 = await natEip();
    natIp2 = await natEip();
    await vpc.createSnatEntry(new $Vpc.CreateSnatEntryRequest({ regionId: REGION, snatTableId, snatIp: natIp1, sourceVSwitchId: vswA1 }));

    // Within one resync the private g1 reaches the Internet, seen as the SNAT IP.
    const seen = await until('g1 to get out through SNAT', async () => {
      const a = await tcpFrom(g1.netns, inet!.ip, 7000);
      return a.startsWith('inet ') ? a : undefined;
    }, 10_000);
    assert.equal(seen, `inet 7000 ${natIp1}`);
    // EIP beats SNAT: g2 (same vSwitch) still egresses with its own EIP.
    assert.equal(await tcpFrom(g2.netns, inet!.ip, 7000), `inet 7000 ${g2Eip}`);
    // The SNAT entry is scoped to A1: g3 in A2 has no way out.
    assert.equal(await tcpFrom(g3.netns, inet!.ip, 7000), 'timeout');
    // Inbound to the SNAT IP stays closed: no instance answers there.
    const inbound = await probe(inet!.netns, [tcp(natIp1, 8080), tcp(natIp1, 9090), udp(natIp1, 8080)], 800);
    for (const a of inbound) assert.doesNotMatch(a, /^g\d /, `the SNAT IP let the Internet in: ${inbound.join(' | ')}`);
  });

  it('forwards a DNAT port mapping and an any-port IP mapping from the Internet, and closes them on DeleteForwardEntry', async () => {
    assert.ok(natId, 'the NAT gateway of the previous test exists');
    const port = await vpc.createForwardEntry(
      new $Vpc.CreateForwardEntryRequest({ regionId: REGION, forwardTableId, externalIp: natIp1, externalPort: '80', internalIp: g1.ip, internalPort: '8080', ipProtocol: 'TCP' }),
    );
    const ipMap = await vpc.createForwardEntry(
      new $Vpc.CreateForwardEntryRequest({ regionId: REGION, forwardTableId, externalIp: natIp2, externalPort: 'Any', internalIp: g3.ip, internalPort: 'Any', ipProtocol: 'Any' }),
    );
    // The Internet reaches g1:8080 through natIp1:80, and g3 on any port its security group opens
    // through natIp2; the instances see the client's own address.
    let last: string[] = [];
    const mapped = await until('the DNAT entries to answer', async () => {
      const r = await probe(inet!.netns, [tcp(natIp1, 80), tcp(natIp2, 8080)], 800);
      last = r;
      return r[0].startsWith('g1') && r[1].startsWith('g3') ? r : undefined;
    }, 10_000).catch((e: unknown) => assert.fail(`${e instanceof Error ? e.message : String(e)}; last answers: ${last.join(' | ')}`));
    assert.deepEqual(mapped, [`g1 8080 ${inet!.ip}`, `g3 8080 ${inet!.ip}`]);
    // Only the mapped port of natIp1; g3's security group still filters what the IP mapping lets in
    // (tcp 9090 and udp 8080 are not opened), until a rule opens udp 8080.
    const closed = await probe(inet!.netns, [tcp(natIp1, 8080), tcp(natIp2, 9090), udp(natIp2, 8080)], 800);
    for (const a of closed) assert.doesNotMatch(a, /^g\d /, closed.join(' | '));
    await ecs.authorizeSecurityGroup(
      new $Ecs.AuthorizeSecurityGroupRequest({ regionId: REGION, securityGroupId: sgA3, ipProtocol: 'udp', portRange: '8080/8080', sourceCidrIp: '0.0.0.0/0', policy: 'accept', priority: '1' }),
    );
    assert.equal(await until('udp 8080 through the IP mapping', async () => {
      const a = (await probe(inet!.netns, [udp(natIp2, 8080)], 800))[0];
      return a.startsWith('g3') ? a : undefined;
    }, 10_000), `g3 8080 ${inet!.ip}`);

    await vpc.deleteForwardEntry(new $Vpc.DeleteForwardEntryRequest({ regionId: REGION, forwardTableId, forwardEntryId: port.body!.forwardEntryId! }));
    await vpc.deleteForwardEntry(new $Vpc.DeleteForwardEntryRequest({ regionId: REGION, forwardTableId, forwardEntryId: ipMap.body!.forwardEntryId! }));
    const gone = await until('the DNAT entries to close', async () => {
      const r = await probe(inet!.netns, [tcp(natIp1, 80), tcp(natIp2, 8080)], 800);
      return r.every((a) => !/^g\d /.test(a)) ? r : undefined;
    }, 10_000);
    assert.equal(gone.length, 2);
    // SNAT is untouched by the DNAT changes.
    assert.equal(await tcpFrom(g1.netns, inet!.ip, 7000), `inet 7000 ${natIp1}`);
  });

  // Issue 3 asks for < 1 s. The agent's change poll (POLL_MS, src/agent/agent.ts) fingerprints only the
  // groups' row versions, so a rule change waits for the full resync (RESYNC_MS = 5 s): measured 0.1–5 s.
  it('applies a security-group rule change to running instances within one second', async () => {
    assert.equal(await tcpFrom(g1.netns, g3.ip, 9090), 'timeout');
    const measure = async (want: (a: string) => boolean) => {
      const t0 = Date.now();
      await until('the rule to apply', async () => (want(await tcpFrom(g1.netns, g3.ip, 9090, 150)) ? true : undefined), 10_000, 0);
      return Date.now() - t0;
    };
    await authorize(sgA3, 9090);
    const opened = await measure((a) => a === `g3 9090 ${g1.ip}`);
    await revoke(sgA3, 9090);
    const closed = await measure((a) => a === 'timeout');
    console.error(`security group change applied: open ${opened} ms, close ${closed} ms`);
    assert.ok(opened < 1000, `AuthorizeSecurityGroup took ${opened} ms to open the port`);
    assert.ok(closed < 1000, `RevokeSecurityGroup took ${closed} ms to close the port`);
  });

  it('applies ModifyEipAddressAttribute Bandwidth 5 → 10 to the live EIP', async () => {
    await authorize(sgA, 5201);
    const echo = echoes.get('g2');
    if (echo) {
      // iperf3 needs port 5201 in g2: stop g2's echo server.
      const exited = new Promise((r) => echo.once('exit', r));
      echo.kill('SIGKILL');
      await exited;
    }
    const raw = await cluster.server.client(cluster.server.key('net')).call('eci', 'DescribeContainerGroups', { ContainerGroupIds: JSON.stringify([g2.id]) });
    const allocationId = raw.ContainerGroups[0].EipInstanceId as string;
    await vpc.modifyEipAddressAttribute(new $Vpc.ModifyEipAddressAttributeRequest({ regionId: REGION, allocationId, bandwidth: '10' }));
    assert.equal((await eipInUse(allocationId)).bandwidth, '10');
    await until('the 10 Mbit/s shaper', async () => {
      const { stdout } = await run(['tc', 'qdisc', 'show'], { netns: cluster.agent.hostNetns });
      return /tbf .*rate 10Mbit/.test(stdout) ? true : undefined;
    }, 10_000);
    const iperf = async (): Promise<number> => {
      const server = run(['iperf3', '-s', '-1', '-p', '5201'], { netns: g2.netns, timeoutMs: 15_000 }).catch(() => undefined);
      await sleep(300);
      const out = await until('iperf3 to connect', async () => (await run(['iperf3', '-c', g2Eip, '-p', '5201', '-t', '3', '-O', '1', '-J'], { netns: inet!.netns, timeoutMs: 12_000 })).stdout, 8000);
      await server;
      return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
    };
    const within = (m: number) => m > 9 && m < 11;
    let mbit = await iperf();
    // One retry, as in bandwidth.kernel.test.ts: a 3 s run on 2 shared cores can catch a stall.
    if (!within(mbit)) mbit = await iperf();
    if (process.env.ECI_TEST_DEBUG) console.error(`iperf3 through the EIP after the change: ${mbit.toFixed(2)} Mbit/s`);
    assert.ok(within(mbit), `${mbit.toFixed(2)} Mbit/s, want 10 ±10%`);
  });

  it('deletes every group and leaves nothing on the host', async () => {
    await stopProcesses();
    for (const g of [g1, g2, g3, g4]) if (g) await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: g.id }));
    for (const g of [g1, g2, g3, g4]) if (g) await until(`${g.id} to disappear`, async () => ((await describeGroup(g.id)) === undefined ? true : undefined), 30_000);
    const left = async () => (await cluster.leftovers()).filter((l) => l !== `netns ${cluster.agent.hostNetns}` && l !== `netns ${inet?.netns}`);
    await until('no leftovers', async () => ((await left()).length === 0 ? true : undefined), 8000).catch(() => undefined);
    assert.deepEqual(await left(), []);
  });
});
