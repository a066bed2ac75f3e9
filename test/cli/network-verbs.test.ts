// The friendly network verbs against a running server: eci vpc / vswitch / sg / eip.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.ts';
import { eci, ok, parseTable, serverEnv } from './run-cli.ts';

describe('network verbs', () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await startServer({ config: { quotas: { eips: 3 } } });
    env = serverEnv(server, server.key('alice'));
  });
  after(() => server.close());

  it('vpc create / ls / rm, with the raw action still reachable as `eci vpc CreateVpc`', () => {
    const id = ok(['vpc', 'create', '192.168.0.0/16', '--name', 'main'], { env }).trim();
    assert.match(id, /^vpc-[a-z2-7]{20}$/);
    const raw = ok(['vpc', 'CreateVpc', '--CidrBlock', '10.1.0.0/16', '--json'], { env });
    const other = JSON.parse(raw).VpcId;

    const table = parseTable(ok(['vpc', 'ls'], { env }));
    assert.deepEqual(table.header, ['ID', 'NAME', 'CIDR', 'STATUS', 'DEFAULT', 'VSWITCHES', 'CREATED']);
    const row = table.rows.find((r) => r.ID === id);
    assert.deepEqual({ ...row, CREATED: undefined }, { ID: id, NAME: 'main', CIDR: '192.168.0.0/16', STATUS: 'Available', DEFAULT: '', VSWITCHES: '0', CREATED: undefined });
    assert.match(row!.CREATED, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(table.rows.some((r) => r.ID === other));

    const listed = JSON.parse(ok(['vpc', 'ls', '--json'], { env })) as { VpcId: string }[];
    assert.deepEqual(listed.map((v) => v.VpcId).sort(), [id, other].sort());

    assert.equal(ok(['vpc', 'rm', other], { env }).trim(), other);
    assert.ok(!parseTable(ok(['vpc', 'ls'], { env })).rows.some((r) => r.ID === other));

    const missing = eci(['vpc', 'create'], { env });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^eci vpc create: missing CIDR/);
    const bad = eci(['vpc', 'create', '8.8.8.0/24'], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^InvalidCidrBlock\.Malformed: .*\(RequestId [0-9A-F-]{36}\)$/m);
    const unknown = eci(['vpc', 'frob'], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /eci vpc: unknown command "frob"\. Commands: ls, create, rm/);
  });

  it('vswitch create (zone from the region by default) / ls / rm, and the VPC counts it', () => {
    const vpc = ok(['vpc', 'create', '172.16.0.0/16'], { env }).trim();
    const a = ok(['vswitch', 'create', vpc, '172.16.1.0/24', '--name', 'a'], { env }).trim();
    const b = ok(['vswitch', 'create', vpc, '172.16.2.0/24', '--zone', 'cn-hangzhou-i'], { env }).trim();
    assert.match(a, /^vsw-[a-z2-7]{20}$/);
    const table = parseTable(ok(['vswitch', 'ls', '--vpc', vpc], { env }));
    assert.deepEqual(table.header, ['ID', 'NAME', 'VPC', 'ZONE', 'CIDR', 'STATUS', 'FREE', 'CREATED']);
    const rowA = table.rows.find((r) => r.ID === a)!;
    assert.equal(rowA.NAME, 'a');
    assert.equal(rowA.VPC, vpc);
    assert.equal(rowA.ZONE, 'cn-hangzhou-h');
    assert.equal(rowA.CIDR, '172.16.1.0/24');
    const raw = JSON.parse(ok(['vpc', 'DescribeVSwitches', '--VSwitchId', a, '--json'], { env })).VSwitches.VSwitch[0];
    assert.ok(raw.AvailableIpAddressCount > 240 && raw.AvailableIpAddressCount < 256);
    assert.equal(rowA.FREE, String(raw.AvailableIpAddressCount));
    assert.equal(table.rows.find((r) => r.ID === b)?.ZONE, 'cn-hangzhou-i');
    assert.equal(parseTable(ok(['vpc', 'ls'], { env })).rows.find((r) => r.ID === vpc)?.VSWITCHES, '2');

    const overlap = eci(['vswitch', 'create', vpc, '172.16.1.128/25'], { env });
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, /^InvalidCidrBlock\.Overlapped: /m);

    assert.equal(ok(['vswitch', 'rm', a, b], { env }), `${a}\n${b}\n`);
    assert.equal(parseTable(ok(['vswitch', 'ls', '--vpc', vpc], { env })).rows.length, 0);
  });

  it('sg create / allow / ls / rm', () => {
    const vpc = ok(['vpc', 'create', '10.20.0.0/16'], { env }).trim();
    const sg = ok(['sg', 'create', vpc, '--name', 'web'], { env }).trim();
    assert.match(sg, /^sg-[a-z2-7]+/);
    const allowed = ok(['sg', 'allow', sg, '--port', '80/tcp', '--port', '8000-8080', '--port', 'icmp', '--from', '10.0.0.0/8'], { env });
    assert.equal(allowed, `${sg} allows TCP 80/80 from 10.0.0.0/8\n${sg} allows TCP 8000/8080 from 10.0.0.0/8\n${sg} allows ICMP -1/-1 from 10.0.0.0/8\n`);
    const rules = JSON.parse(ok(['ecs', 'DescribeSecurityGroupAttribute', '--SecurityGroupId', sg, '--json'], { env }));
    const perms = rules.Permissions.Permission as { IpProtocol: string; PortRange: string; SourceCidrIp: string; Policy: string; Direction: string }[];
    const ingress = perms.filter((p) => p.Direction === 'ingress').map((p) => `${p.IpProtocol} ${p.PortRange} ${p.SourceCidrIp} ${p.Policy}`).sort();
    assert.deepEqual(ingress, ['ICMP -1/-1 10.0.0.0/8 Accept', 'TCP 80/80 10.0.0.0/8 Accept', 'TCP 8000/8080 10.0.0.0/8 Accept'].sort());

    const table = parseTable(ok(['sg', 'ls', '--vpc', vpc], { env }));
    assert.deepEqual(table.header, ['ID', 'NAME', 'VPC', 'TYPE', 'CREATED']);
    assert.deepEqual(table.rows.map((r) => [r.ID, r.NAME, r.VPC, r.TYPE]), [[sg, 'web', vpc, 'normal']]);

    const badPort = eci(['sg', 'allow', sg, '--port', '80/sctp'], { env });
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port expects PORT\[-PORT\]\[\/tcp\|udp\]/);
    const noPort = eci(['sg', 'allow', sg], { env });
    assert.equal(noPort.code, 2);

    assert.equal(ok(['sg', 'rm', sg], { env }).trim(), sg);
    const gone = eci(['sg', 'rm', sg], { env });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^InvalidSecurityGroupId\.NotFound: /m);
  });

  it('eip alloc / ls / set-bandwidth / release, naming an EIP by id or address', () => {
    const [id, ip] = ok(['eip', 'alloc', '--bandwidth', '7', '--name', 'one'], { env }).trim().split(' ');
    assert.match(id, /^eip-[a-z2-7]{20}$/);
    assert.match(ip, /^203\.0\.113\.\d+$/);
    let table = parseTable(ok(['eip', 'ls'], { env }));
    assert.deepEqual(table.header, ['ID', 'IP', 'STATUS', 'BANDWIDTH', 'INSTANCE', 'NAME', 'CREATED']);
    assert.deepEqual({ ...table.rows.find((r) => r.ID === id), CREATED: '' }, { ID: id, IP: ip, STATUS: 'Available', BANDWIDTH: '7', INSTANCE: '', NAME: 'one', CREATED: '' });

    assert.equal(ok(['eip', 'set-bandwidth', ip, '12'], { env }).trim(), `${id} 12 Mbit/s`);
    table = parseTable(ok(['eip', 'ls'], { env }));
    assert.equal(table.rows.find((r) => r.ID === id)?.BANDWIDTH, '12');

    const tooMuch = eci(['eip', 'set-bandwidth', id, '100000'], { env });
    assert.equal(tooMuch.code, 1);
    assert.match(tooMuch.stderr, /^InvalidParameter: Specified value of "Bandwidth" is not valid\./m);

    const notBound = eci(['eip', 'unassoc', id], { env });
    assert.equal(notBound.code, 1);
    assert.match(notBound.stderr, /^IncorrectEipStatus: /m);

    const unknownIp = eci(['eip', 'release', '198.51.100.1'], { env });
    assert.equal(unknownIp.code, 1);
    assert.match(unknownIp.stderr, /no EIP of yours has the address 198\.51\.100\.1/);

    assert.equal(ok(['eip', 'release', ip], { env }).trim(), id);
    assert.ok(!parseTable(ok(['eip', 'ls'], { env })).rows.some((r) => r.ID === id));
  });

  it('eip alloc answers QuotaExceeded.Eip past the quota, and ls pages through them all', () => {
    const ids = [1, 2, 3].map(() => ok(['eip', 'alloc'], { env }).split(' ')[0]);
    const over = eci(['eip', 'alloc'], { env });
    assert.equal(over.code, 1);
    assert.match(over.stderr, /^QuotaExceeded\.Eip: Elastic IP address quota exceeded\. \(RequestId [0-9A-F-]{36}\)$/m);
    const listed = JSON.parse(ok(['eip', 'ls', '--json'], { env })) as { AllocationId: string; Bandwidth: string }[];
    assert.deepEqual(listed.map((e) => e.AllocationId).sort(), [...ids].sort());
    assert.ok(listed.every((e) => e.Bandwidth === '5'));
    assert.equal(ok(['eip', 'release', ...ids], { env }), ids.join('\n') + '\n');
  });

  it('eip assoc refuses an unknown instance with the server\'s code', () => {
    const [id] = ok(['eip', 'alloc'], { env }).split(' ');
    const r = eci(['eip', 'assoc', id, 'eci-doesnotexist'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^InvalidInstanceId\.NotFound: /m);
    const usage = eci(['eip', 'assoc', id], { env });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^eci eip assoc: missing INSTANCE \(usage: eci eip assoc EIP INSTANCE\)/);
    ok(['eip', 'release', id], { env });
  });
});
