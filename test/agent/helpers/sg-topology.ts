// A minimal VPC router for security-group kernel tests: one router namespace, instance namespaces on
// routed veths (the instance's /32 on eth0, the gateway answered by proxy ARP on the router side), and
// an "outside" namespace on an uplink veth that is not a member of any group. Every name carries a
// random host id; destroy() removes everything it created, and leftovers() lists what would remain.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipBatch, listNetns, nftApply, run } from '../../../src/agent/net/exec.ts';
import type { SecurityGroupData, SecurityGroupRule } from '../../../src/core/model.ts';
import { instanceNetnsName, instanceVeth, routerNetnsName, shortId, uplinkVeth } from '../../../src/agent/net/names.ts';

export const GATEWAY = '10.20.0.1';
export const OUTSIDE_IP = '192.0.2.7';

export interface Instance {
  readonly id: string;
  readonly netns: string;
  readonly ip: string;
  /** The router-side veth: what security groups key on. */
  readonly ifname: string;
}

export interface SgTopology {
  readonly hostId: string;
  readonly router: string;
  readonly outside: string;
  readonly uplink: string;
  readonly instances: Instance[];
  /** Replaces the whole `inet eci` table: the given declarations plus a guard chain around `forwardRules`. */
  loadTable(chains: string, forwardRules: string): Promise<void>;
  /** Starts `busybox httpd` on each port inside netns; killed by destroy(). */
  serve(netns: string, ports: readonly number[]): Promise<void>;
  /** Whether a TCP connection from netns to ip:port completes (an HTTP answer arrives) within ~0.5 s. */
  tcpOpen(fromNetns: string, ip: string, port: number): Promise<boolean>;
  /** Starts a UDP echo server (a Node one-liner) on port inside netns; killed by destroy(). */
  serveUdp(netns: string, port: number): Promise<void>;
  /** Whether a UDP datagram from netns to ip:port is echoed back within ~0.5 s. */
  udpOpen(fromNetns: string, ip: string, port: number): Promise<boolean>;
  /** Whether one ping from netns to ip is answered within 1 s. */
  pingOk(fromNetns: string, ip: string): Promise<boolean>;
  destroy(): Promise<void>;
  /** Namespaces, and processes started here, still present (must be empty after destroy). */
  leftovers(): Promise<string[]>;
}

function spawnIn(netns: string, argv: string[]): ChildProcess {
  return spawn('nsenter', [`--net=/var/run/netns/${netns}`, '--', ...argv], { stdio: 'ignore' });
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

export async function createSgTopology(count: number): Promise<SgTopology> {
  const hostId = `host-t${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.slice(0, 13);
  const vpcId = `vpc-sg${randomBytes(4).toString('hex')}`;
  const router = routerNetnsName(hostId, vpcId);
  const outside = `${shortId(hostId)}-out`;
  const up = uplinkVeth(hostId, vpcId);
  const instances: Instance[] = [];
  const procs: ChildProcess[] = [];
  const created: string[] = [];
  const www = mkdtempSync(join(tmpdir(), 'sg-www-'));
  writeFileSync(join(www, 'index.html'), 'ok\n');

  const destroy = async () => {
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGKILL');
        await new Promise((r) => p.once('close', r));
      }
    }
    for (const ns of created.reverse()) await run(['ip', 'netns', 'delete', ns]).catch(() => undefined);
    rmSync(www, { recursive: true, force: true });
  };

  try {
    for (const ns of [router, outside]) {
      await run(['ip', 'netns', 'add', ns]);
      created.push(ns);
    }
    await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { netns: router });
    await ipBatch(router, ['link set lo up', `link add ${up.routerSide} type veth peer name ${up.hostSide} netns ${outside}`]);
    await ipBatch(router, [
      `addr add 169.254.0.1/30 dev ${up.routerSide}`,
      `link set ${up.routerSide} up`,
      // The default route is also what makes proxy ARP answer for the gateway address: the kernel
      // answers only for targets it routes out of another interface.
      `route add default via 169.254.0.2 dev ${up.routerSide}`,
    ]);
    await ipBatch(outside, [
      'link set lo up',
      `addr add 169.254.0.2/30 dev ${up.hostSide}`,
      `addr add ${OUTSIDE_IP}/32 dev ${up.hostSide}`,
      `link set ${up.hostSide} up`,
      `route add 10.20.0.0/16 via 169.254.0.1 src ${OUTSIDE_IP}`,
    ]);
    for (let i = 0; i < count; i++) {
      const id = `eci-sg${i}${randomBytes(4).toString('hex')}`;
      const netns = instanceNetnsName(hostId, id);
      const veth = instanceVeth(hostId, id);
      const ip = `10.20.0.${10 + i}`;
      await run(['ip', 'netns', 'add', netns]);
      created.push(netns);
      await ipBatch(router, [`link add ${veth.routerSide} type veth peer name ${veth.instanceSide} netns ${netns}`]);
      await ipBatch(netns, [
        'link set lo up',
        `link set ${veth.instanceSide} name eth0`,
        `addr add ${ip}/32 dev eth0`,
        'link set eth0 up',
        `route add ${GATEWAY}/32 dev eth0`,
        `route add default via ${GATEWAY} dev eth0`,
      ]);
      await run(['sysctl', '-q', '-w', `net.ipv4.conf.${veth.routerSide}.proxy_arp=1`, `net.ipv4.neigh.${veth.routerSide}.proxy_delay=0`], { netns: router });
      await ipBatch(router, [`link set ${veth.routerSide} up`, `route add ${ip}/32 dev ${veth.routerSide}`]);
      instances.push({ id, netns, ip, ifname: veth.routerSide });
    }
  } catch (e) {
    await destroy();
    throw e;
  }

  const tcpOpen = async (fromNetns: string, ip: string, port: number): Promise<boolean> => {
    try {
      const { stdout } = await run(
        ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--connect-timeout', '0.5', '--max-time', '2', `http://${ip}:${port}/`],
        { netns: fromNetns, timeoutMs: 5000 },
      );
      return stdout.trim() !== '000';
    } catch {
      return false;
    }
  };

  return {
    hostId,
    router,
    outside,
    uplink: up.routerSide,
    instances,
    async loadTable(chains, forwardRules) {
      const script = [
        'table inet eci {}',
        'delete table inet eci',
        'table inet eci {',
        chains,
        'chain guard {',
        'type filter hook forward priority filter; policy drop;',
        'ct state established,related accept',
        forwardRules,
        '}',
        '}',
      ].join('\n');
      await nftApply(router, script);
    },
    async serve(netns, ports) {
      for (const port of ports) {
        const p = spawnIn(netns, ['busybox', 'httpd', '-f', '-p', `0.0.0.0:${port}`, '-h', www]);
        procs.push(p);
        const ip = netns === outside ? OUTSIDE_IP : (instances.find((x) => x.netns === netns)?.ip ?? '127.0.0.1');
        // Ready when it answers from inside its own namespace (no forward hook on that path).
        if (!(await waitFor(() => tcpOpen(netns, ip, port), 3000))) throw new Error(`httpd on ${netns}:${port} did not start`);
      }
    },
    tcpOpen,
    async serveUdp(netns, port) {
      const echo = `const s=require('node:dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${port},()=>console.log('ready'))`;
      const p = spawn('nsenter', [`--net=/var/run/netns/${netns}`, '--', process.execPath, '-e', echo], { stdio: ['ignore', 'pipe', 'ignore'] });
      procs.push(p);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`udp echo on ${netns}:${port} did not start`)), 5000);
        p.stdout?.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    async udpOpen(fromNetns, ip, port) {
      const probe =
        `const s=require('node:dgram').createSocket('udp4');` +
        `s.on('message',()=>process.exit(0));setTimeout(()=>process.exit(1),500);s.send('x',${port},'${ip}');`;
      try {
        await run([process.execPath, '-e', probe], { netns: fromNetns, timeoutMs: 5000 });
        return true;
      } catch {
        return false;
      }
    },
    async pingOk(fromNetns, ip) {
      try {
        await run(['busybox', 'ping', '-c', '1', '-W', '1', ip], { netns: fromNetns, timeoutMs: 3000 });
        return true;
      } catch {
        return false;
      }
    },
    destroy,
    async leftovers() {
      const tag = shortId(hostId);
      const left = (await listNetns()).filter((n) => n.includes(tag));
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) left.push(`pid ${p.pid}`);
      return left;
    },
  };
}

// ---- Groups and rules in the stored (normalised) shape, for the pure and the kernel tests.

let seq = 0;

export function rule(r: Partial<SecurityGroupRule> & Pick<SecurityGroupRule, 'Direction' | 'IpProtocol'>): SecurityGroupRule {
  seq += 1;
  const ported = r.IpProtocol === 'TCP' || r.IpProtocol === 'UDP';
  return {
    SecurityGroupRuleId: `sgr-t${seq}`,
    PortRange: ported ? '1/65535' : '-1/-1',
    SourcePortRange: '',
    SourceCidrIp: '',
    DestCidrIp: '',
    SourceGroupId: '',
    DestGroupId: '',
    Policy: 'Accept',
    Priority: 1,
    NicType: 'intranet',
    Description: '',
    CreateTime: '2026-01-01T00:00:00Z',
    ...r,
  };
}

export const ingress = (r: Partial<SecurityGroupRule> & Pick<SecurityGroupRule, 'IpProtocol'>): SecurityGroupRule =>
  rule({ SourceCidrIp: r.SourceGroupId ? '' : '0.0.0.0/0', ...r, Direction: 'ingress' });

export const egress = (r: Partial<SecurityGroupRule> & Pick<SecurityGroupRule, 'IpProtocol'>): SecurityGroupRule =>
  rule({ DestCidrIp: r.DestGroupId ? '' : '0.0.0.0/0', ...r, Direction: 'egress' });

export function group(id: string, permissions: SecurityGroupRule[], type: SecurityGroupData['SecurityGroupType'] = 'normal'): SecurityGroupData {
  return {
    SecurityGroupId: id,
    SecurityGroupName: id,
    Description: '',
    VpcId: 'vpc-test',
    SecurityGroupType: type,
    ResourceGroupId: '',
    CreationTime: '2026-01-01T00:00:00Z',
    Tags: [],
    Permissions: permissions,
  };
}
