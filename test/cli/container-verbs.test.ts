// eci run / ps / logs / rm against a running server. There is no host agent yet, so groups stay
// Scheduling; a final state is written to the store directly, as an agent would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KIND } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { eci, ok, parseTable, serverEnv } from './run-cli.ts';

interface Group {
  ContainerGroupId: string;
  ContainerGroupName: string;
  Status: string;
  Cpu: number;
  Memory: number;
  RestartPolicy: string;
  IntranetIp: string;
  Tags: { Key: string; Value: string }[];
  Containers: { Name: string; Image: string; Commands: string[]; Args: string[]; Ports: { Port: number; Protocol: string }[]; EnvironmentVars: { Key: string; Value: string }[] }[];
}

describe('container verbs', () => {
  let server: TestServer;
  let env: Record<string, string>;
  const describeGroup = (id: string): Group => {
    const r = JSON.parse(ok(['eci', 'DescribeContainerGroups', '--ContainerGroupIds', JSON.stringify([id]), '--json'], { env }));
    assert.equal(r.ContainerGroups.length, 1);
    return r.ContainerGroups[0];
  };
  before(async () => {
    server = await startServer();
    env = serverEnv(server, server.key('alice'));
  });
  after(() => server.close());

  it('eci run turns its flags into CreateContainerGroup and prints the id', () => {
    const id = ok(
      ['run', 'web', '--image', 'nginx:alpine', '--cpu', '1', '--memory', '2', '--port', '80', '--port', '53/udp', '--env', 'A=1', '--env', 'B=x=y',
        '--restart', 'onfailure', '--tag', 'team=core', '--arg=-g', '--', 'nginx', '-c', '/etc/nginx.conf'],
      { env },
    ).trim();
    assert.match(id, /^eci-[a-z2-7]{20}$/);
    const g = describeGroup(id);
    assert.equal(g.ContainerGroupName, 'web');
    assert.equal(g.Status, 'Scheduling');
    assert.equal(g.Cpu, 1);
    assert.equal(g.Memory, 2);
    assert.equal(g.RestartPolicy, 'OnFailure');
    assert.deepEqual(g.Tags, [{ Key: 'team', Value: 'core' }]);
    const c = g.Containers[0];
    assert.equal(c.Name, 'web');
    assert.equal(c.Image, 'nginx:alpine');
    assert.deepEqual(c.Commands, ['nginx', '-c', '/etc/nginx.conf']);
    assert.deepEqual(c.Args, ['-g']);
    assert.deepEqual(c.Ports, [{ Port: 80, Protocol: 'TCP' }, { Port: 53, Protocol: 'UDP' }]);
    assert.deepEqual(c.EnvironmentVars.map((e) => [e.Key, e.Value]), [['A', '1'], ['B', 'x=y']]);
  });

  it('eci run passes the image options: pull policy, registry logins, plain-http and insecure registries', () => {
    const id = ok(
      ['run', 'priv', '--image', '127.0.0.1:5999/team/app:1', '--pull', 'always', '--registry-login', '127.0.0.1:5999=me:pa:ss',
        '--plain-http-registry', '127.0.0.1:5999', '--insecure-registry', 'reg.example.com', '--insecure-registry', 'reg2.example.com:8443'],
      { env },
    ).trim();
    const raw = JSON.parse(ok(['eci', 'DescribeContainerGroups', '--ContainerGroupIds', JSON.stringify([id]), '--json'], { env })).ContainerGroups[0];
    assert.equal(raw.Containers[0].ImagePullPolicy, 'Always');
    assert.equal(raw.PlainHttpRegistry, '127.0.0.1:5999');
    assert.equal(raw.InsecureRegistry, 'reg.example.com,reg2.example.com:8443');
    assert.deepEqual(raw.ImageRegistryCredentials, [{ Server: '127.0.0.1:5999', UserName: 'me' }], 'the password is kept for the agent, never shown');
    const badLogin = eci(['run', 'x', '--image', 'nginx', '--registry-login', 'nouser'], { env });
    assert.equal(badLogin.code, 2);
    assert.match(badLogin.stderr, /--registry-login expects SERVER=USER:PASSWORD/);
    const badPull = eci(['run', 'x', '--image', 'nginx', '--pull', 'sometimes'], { env });
    assert.equal(badPull.code, 2);
    const noCache = eci(['run', 'xc', '--image', 'nginx', '--image-cache', 'imc-doesnotexist'], { env });
    assert.equal(noCache.code, 1);
    assert.match(noCache.stderr, /^InvalidImageSnapshotId\.NotFound: /m);
  });

  it('eci run --eip --eip-bandwidth gives the group its own EIP', () => {
    const id = ok(['run', 'pub', '--image', 'busybox', '--eip', '--eip-bandwidth', '12', '--command', 'sleep', '--command', '3600'], { env }).trim();
    const eips = JSON.parse(ok(['eip', 'ls', '--json'], { env })) as { InstanceId: string; Bandwidth: string; Status: string }[];
    const mine = eips.filter((e) => e.InstanceId === id);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].Bandwidth, '12');
    assert.match(mine[0].Status, /^(Associating|InUse)$/);
    assert.deepEqual(describeGroup(id).Containers[0].Commands, ['sleep', '3600']);
  });

  it('eci run refuses bad flags locally (exit 2) and relays the server\'s refusals (exit 1)', () => {
    const noImage = eci(['run', 'x'], { env });
    assert.equal(noImage.code, 2);
    assert.match(noImage.stderr, /^eci run: --image is required/);
    const noName = eci(['run', '--image', 'nginx'], { env });
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /^eci run: missing NAME/);
    const badPort = eci(['run', 'x', '--image', 'nginx', '--port', '80/sctp'], { env });
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port expects PORT or PORT\/PROTOCOL/);
    const badEnv = eci(['run', 'x', '--image', 'nginx', '--env', 'NOVALUE'], { env });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /--env expects KEY=VALUE, not "NOVALUE"/);
    const badRestart = eci(['run', 'x', '--image', 'nginx', '--restart', 'sometimes'], { env });
    assert.equal(badRestart.code, 2);
    const unknown = eci(['run', 'x', '--image', 'nginx', '--gpu', '1'], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^eci run: Unknown option '--gpu'/);

    const badName = eci(['run', 'Bad_Name', '--image', 'nginx'], { env });
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /^InvalidParameter: .*ContainerGroupName.* \(RequestId [0-9A-F-]{36}\)$/m);
    const badVsw = eci(['run', 'xx', '--image', 'nginx', '--vswitch', 'vsw-doesnotexist'], { env });
    assert.equal(badVsw.code, 1);
    assert.match(badVsw.stderr, /^InvalidVSwitchId\.NotFound: /m);
  });

  it('eci ps lists every page as a table, newest first, and --json as an array', async () => {
    const client = server.client(server.key('bob'));
    const bobEnv = serverEnv(server, server.key('bob'));
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const r = await client.call<{ ContainerGroupId: string }>('eci', 'CreateContainerGroup', { ContainerGroupName: `g${i}`, Container: [{ Name: 'main', Image: 'busybox' }] });
      ids.push(r.ContainerGroupId);
    }
    const table = parseTable(ok(['ps'], { env: bobEnv }));
    assert.deepEqual(table.header, ['ID', 'NAME', 'STATUS', 'IP', 'EIP', 'CPU', 'MEM', 'CREATED']);
    assert.equal(table.rows.length, 23, 'more than one page of 20');
    assert.deepEqual(table.rows.map((r) => r.ID).sort(), [...ids].sort());
    const g5 = table.rows.find((r) => r.NAME === 'g5')!;
    const described = (await client.call<{ ContainerGroups: Group[] }>('eci', 'DescribeContainerGroups', { ContainerGroupIds: JSON.stringify([g5.ID]) })).ContainerGroups[0];
    assert.deepEqual(g5, {
      ID: described.ContainerGroupId,
      NAME: 'g5',
      STATUS: 'Scheduling',
      IP: described.IntranetIp,
      EIP: '',
      CPU: String(described.Cpu),
      MEM: String(described.Memory),
      CREATED: g5.CREATED,
    });
    assert.match(g5.IP, /^\d+\.\d+\.\d+\.\d+$/);
    const created = table.rows.map((r) => r.CREATED);
    assert.deepEqual(created, [...created].sort().reverse());

    const json = JSON.parse(ok(['ps', '--json'], { env: bobEnv })) as Group[];
    assert.equal(json.length, 23);
    assert.ok(json.every((g) => g.Status === 'Scheduling'));
    assert.deepEqual(parseTable(ok(['ps', '--name', 'g7'], { env: bobEnv })).rows.map((r) => r.NAME), ['g7']);
    // Accounts do not see each other's groups.
    assert.ok(!parseTable(ok(['ps'], { env })).rows.some((r) => ids.includes(r.ID)));
  });

  it('eci ps hides ended groups unless --all', async () => {
    const id = ok(['run', 'done', '--image', 'busybox', '--restart', 'Never'], { env }).trim();
    const running = ok(['run', 'alive', '--image', 'busybox'], { env }).trim();
    // What a host agent would record when the containers exit 0.
    const store = await openStore(server.storeUrl);
    try {
      await store.tx(async (tx) => {
        const row = (await tx.get(KIND.containerGroup, id))!;
        await tx.update({ ...row, status: 'Succeeded' });
      });
    } finally {
      await store.close();
    }
    const shown = parseTable(ok(['ps'], { env })).rows.map((r) => r.ID);
    assert.ok(shown.includes(running));
    assert.ok(!shown.includes(id));
    const all = parseTable(ok(['ps', '--all'], { env })).rows;
    assert.equal(all.find((r) => r.ID === id)?.STATUS, 'Succeeded');
    assert.ok(all.some((r) => r.ID === running));
    assert.deepEqual(parseTable(ok(['ps', '--status', 'Succeeded'], { env })).rows.map((r) => r.ID), [id]);
  });

  it('eci logs picks the only container, and relays why there are no logs yet', () => {
    const id = ok(['run', 'quiet', '--image', 'busybox'], { env }).trim();
    const r = eci(['logs', id, '--tail', '10', '--since', '5m', '--timestamps'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^IncorrectStatus: The container group .* is Scheduling.* \(RequestId [0-9A-F-]{36}\)$/m, 'the container name was found and the request reached the group');
    const wrong = eci(['logs', id, '--container', 'nope'], { env });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^InvalidParameter: .*has no container "nope" \(it has quiet\)/m);
    const missing = eci(['logs', 'eci-doesnotexist'], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^eci logs: there is no container group eci-doesnotexist in cn-hangzhou/);
    const badSince = eci(['logs', id, '--since', 'yesterday'], { env });
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since expects a duration such as 30s/);
  });

  it('eci rm deletes each group, reports the ones that fail, and exits 1 if any did', () => {
    const a = ok(['run', 'rm-a', '--image', 'busybox'], { env }).trim();
    const b = ok(['run', 'rm-b', '--image', 'busybox'], { env }).trim();
    const r = eci(['rm', a, 'eci-doesnotexist', b], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `${a}\n${b}\n`);
    assert.match(r.stderr, /^eci-doesnotexist: InvalidContainerGroupId\.NotFound: .* \(RequestId [0-9A-F-]{36}\)$/m);
    const left = parseTable(ok(['ps', '--all'], { env })).rows.map((row) => row.ID);
    assert.ok(!left.includes(a) && !left.includes(b));
    assert.equal(eci(['rm'], { env }).code, 2);
  });
});
