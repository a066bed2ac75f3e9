// `eci <product> <Action> --Param value …` against a running server: tables, --json, CLI-side flag
// checking, API errors, and --help derived from the schema.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ALL_ACTIONS } from '../../src/api/actions/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { main } from '../../src/cli/main.ts';
import { eci, emptyDir, ok, parseTable, serverEnv } from './run-cli.ts';

describe('eci <product> <Action>', () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await startServer();
    env = serverEnv(server, server.key('alice'));
  });
  after(() => server.close());

  it('prints a list response as a table, and --json as the raw response', () => {
    const table = parseTable(ok(['eci', 'DescribeRegions'], { env }));
    assert.deepEqual(table.header, ['RegionId', 'RegionEndpoint', 'Zones', 'RecommendZones']);
    assert.equal(table.rows.length, 1);
    assert.equal(table.rows[0].RegionId, 'cn-hangzhou');
    assert.equal(table.rows[0].Zones, 'cn-hangzhou-h,cn-hangzhou-i');

    const raw = JSON.parse(ok(['eci', 'DescribeRegions', '--json'], { env }));
    assert.match(raw.RequestId, /^[0-9A-F-]{36}$/);
    assert.deepEqual(raw.Regions[0].Zones, ['cn-hangzhou-h', 'cn-hangzhou-i']);
  });

  it('creates with wire-name flags and prints the response fields; lists show the new resource', () => {
    const out = ok(['vpc', 'CreateVpc', '--CidrBlock', '10.8.0.0/16', '--VpcName', 'from cli', '--Tag.1.Key', 'env', '--Tag.1.Value', 'test'], { env });
    const id = /^VpcId\s+(vpc-[a-z0-9]+)$/m.exec(out)?.[1];
    assert.ok(id, out);
    assert.match(out, /^VRouterId\s+vrt-[a-z0-9]+$/m);

    const listed = parseTable(ok(['vpc', 'DescribeVpcs', '--VpcId', id], { env }));
    assert.equal(listed.rows.length, 1);
    assert.equal(listed.rows[0].VpcId, id);
    assert.equal(listed.rows[0].CidrBlock, '10.8.0.0/16');
    assert.equal(listed.rows[0].Status, 'Available');

    const raw = JSON.parse(ok(['vpc', 'DescribeVpcs', '--VpcId', id, '--json'], { env }));
    assert.equal(raw.TotalCount, 1);
    assert.equal(raw.Vpcs.Vpc[0].VpcName, 'from cli');
    assert.deepEqual(raw.Vpcs.Vpc[0].Tags.Tag, [{ Key: 'env', Value: 'test' }]);

    const deleted = ok(['vpc', 'DeleteVpc', '--VpcId', id], { env });
    assert.match(deleted, /^OK \(RequestId [0-9A-F-]{36}\)$/m);
  });

  it('takes a list parameter whole as JSON', () => {
    const out = ok(['vpc', 'CreateVpc', '--CidrBlock', '10.9.0.0/16', '--Tag', '[{"Key":"a","Value":"1"},{"Key":"b","Value":"2"}]', '--json'], { env });
    const id = JSON.parse(out).VpcId;
    const raw = JSON.parse(ok(['vpc', 'DescribeVpcs', '--VpcId', id, '--json'], { env }));
    assert.deepEqual(raw.Vpcs.Vpc[0].Tags.Tag, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);
  });

  it('prints (none) for an empty list', () => {
    assert.equal(ok(['vpc', 'DescribeVpcs', '--VpcName', 'no-such-vpc'], { env }).trim(), '(none)');
  });

  it('refuses an unknown flag before sending anything, listing the parameters (exit 2)', () => {
    const r = eci(['vpc', 'CreateVpc', '--CidrBlok', '10.0.0.0/16'], { env });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^eci: unknown parameter --CidrBlok for vpc CreateVpc\./);
    assert.match(r.stderr, /Its parameters: CidrBlock, ClientToken, Description, DryRun, RegionId, ResourceGroupId, Tag, VpcName/);
    // Nothing was created.
    const vpcs = JSON.parse(ok(['vpc', 'DescribeVpcs', '--json'], { env })).Vpcs.Vpc as { CidrBlock: string }[];
    assert.equal(vpcs.filter((v) => v.CidrBlock === '10.0.0.0/16').length, 0);

    const wrongCase = eci(['vpc', 'CreateVpc', '--cidrblock', '10.0.0.0/16'], { env });
    assert.equal(wrongCase.code, 2);
    assert.match(wrongCase.stderr, /Did you mean CidrBlock\?/);

    const nested = eci(['vpc', 'CreateVpc', '--Tag.1.Kee', 'x'], { env });
    assert.equal(nested.code, 2);
    assert.match(nested.stderr, /--Tag\.1\.Kee: Tag\.1 has no field "Kee"\. Its fields: Key, Value/);

    const index = eci(['vpc', 'CreateVpc', '--Tag.first.Key', 'x'], { env });
    assert.equal(index.code, 2);
    assert.match(index.stderr, /Tag is a list; write Tag\.1, Tag\.2/);

    const dryRunOnRead = eci(['vpc', 'DescribeVpcs', '--DryRun', 'true'], { env });
    assert.equal(dryRunOnRead.code, 2, 'DryRun belongs to mutating actions only');
  });

  it('prints an API error as "Code: Message (RequestId …)" on stderr and exits 1', () => {
    const r = eci(['vpc', 'CreateVpc', '--CidrBlock', '8.8.8.0/24'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trim(), /^InvalidCidrBlock\.Malformed: The specified CidrBlock "8\.8\.8\.0\/24" is malformed.* \(RequestId [0-9A-F-]{36}\)$/);

    const gone = eci(['vpc', 'DeleteVpc', '--VpcId', 'vpc-doesnotexist'], { env });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^InvalidVpcId\.NotFound: /);

    const dry = eci(['vpc', 'CreateVpc', '--CidrBlock', '10.10.0.0/16', '--DryRun', 'true'], { env });
    assert.equal(dry.code, 1);
    assert.match(dry.stderr, /^DryRunOperation: /);
  });

  it('refuses an unknown action with the product\'s list and a suggestion', () => {
    const r = eci(['vpc', 'DescribeVpc'], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /vpc has no action "DescribeVpc"\. Its actions: .*DescribeVpcs/);
    const lower = eci(['ecs', 'describesecuritygroups'], { env });
    assert.equal(lower.code, 2);
    if (ALL_ACTIONS.some((a) => a.name === 'DescribeSecurityGroups')) assert.match(lower.stderr, /e\.g\. DescribeSecurityGroups/);
  });

  it('--help prints the summary and every parameter with type, requiredness and enum values', () => {
    const help = ok(['vpc', 'AllocateEipAddress', '--help'], { env });
    assert.match(help, /^eci vpc AllocateEipAddress — Allocates an elastic IP address/);
    assert.match(help, /Changes state; accepts --ClientToken and --DryRun true\./);
    const params = help.slice(help.indexOf('Parameters:'));
    const table = parseTable(params.split('\n').slice(1).map((l) => l.slice(2)).join('\n'));
    assert.deepEqual(table.header, ['NAME', 'TYPE', 'REQUIRED', 'NOTES']);
    const row = (name: string) => table.rows.find((r) => r.NAME === name);
    assert.equal(row('InternetChargeType')?.TYPE, 'enum');
    assert.match(row('InternetChargeType')!.NOTES, /one of PayByBandwidth\|PayByTraffic; default PayByBandwidth/);
    assert.equal(row('RegionId')?.REQUIRED, 'yes');
    assert.equal(row('Tag.N.Key')?.REQUIRED, 'in item');
    assert.equal(row('Tag.N.Value')?.TYPE, 'string');
    assert.equal(row('DryRun')?.TYPE, 'boolean');
    assert.equal(row('Bandwidth')?.REQUIRED, '');

    const deleteHelp = ok(['vpc', 'DeleteVpc', '--help'], { env });
    assert.match(deleteHelp, /^Usage: eci vpc DeleteVpc --VpcId … \[--Param value …\] \[--json\]$/m);

    const readHelp = ok(['vpc', 'DescribeVpcs', '-h'], { env });
    assert.match(readHelp, /Read-only\./);
    assert.doesNotMatch(readHelp, /ClientToken/);
    assert.match(readHelp, /^\s+PageSize\s+integer\s+1–50$/m);
  });

  it('every registered action has a --help listing all its top-level parameters', async () => {
    // In-process: one process per action would take a minute.
    for (const action of ALL_ACTIONS) {
      let help = '';
      const io = { out: (t: string) => void (help += t + '\n'), err: (t: string) => assert.fail(t) };
      assert.equal(await main([action.product, action.name, '--help'], {}, io, { cwd: emptyDir(), home: emptyDir() }), 0);
      for (const name of Object.keys(action.params)) assert.match(help, new RegExp(`^  ${name}[ .]`, 'm'), `${action.product} ${action.name}: ${name}`);
    }
  });

  it('eci <product> --help lists the product\'s actions with summaries', () => {
    const help = ok(['vpc', '--help'], { env: {} });
    assert.match(help, /^eci vpc — Vpc API 2016-04-28, \d+ actions/);
    assert.match(help, /^  CreateVpc\s+Creates a VPC/m);
    assert.match(help, /^  ls \[--json\]/m, 'the vpc verbs are listed too');
    const top = ok(['help'], { env: {} });
    assert.match(top, /eci vpc <Action> …\s+Vpc 2016-04-28: \d+ actions/);
    assert.match(top, /^  eci run\s+create a container group/m);
  });
});
