// ECI container group actions through the official ECI SDK (V3 by default, V1 with signatureAlgorithm
// v2) against `eci server` on SQLite and on PostgreSQL, with the VPC and ECS SDKs for the network
// pieces. No host agent runs, so every group stays Scheduling and actions that need running containers
// answer IncorrectStatus.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { $Ecs, $Eci, $Vpc, EciClient, EcsClient, VpcClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestKey, type TestServer } from '../helpers/server.ts';
import { send, signV3 } from '../helpers/sign.ts';
import { latestEvents, presentContainerGroup, presentEvent } from '../../src/api/resources/container-group.ts';
import { KIND, type ContainerGroupData } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';

const REGION = 'cn-hangzhou';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const b64 = (s: string) => Buffer.from(s).toString('base64');

type CreateFields = ConstructorParameters<typeof $Eci.CreateContainerGroupRequest>[0];

/** A minimal valid container; `fields` override. */
const container = (fields: Record<string, unknown> = {}) => new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image: 'nginx:1.25', ...fields });

interface Clients {
  key: TestKey;
  eci: EciClient;
  vpc: VpcClient;
  ecs: EcsClient;
}

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`ECI container groups (${store})`, () => {
    let server: TestServer;
    let pg: TestPostgres | undefined;
    const clients = new Map<string, Clients>();
    /** SDK clients of one account (created on first use). */
    const as = (account: string): Clients => {
      let c = clients.get(account);
      if (!c) {
        const key = server.key(account);
        c = { key, eci: new EciClient(server.sdkConfig(key)), vpc: new VpcClient(server.sdkConfig(key)), ecs: new EcsClient(server.sdkConfig(key)) };
        clients.set(account, c);
      }
      return c;
    };
    const create = (eci: EciClient, fields: CreateFields) =>
      eci.createContainerGroup(new $Eci.CreateContainerGroupRequest({ regionId: REGION, containerGroupName: 'g1', container: [container()], ...fields })).then((r) => r.body!.containerGroupId!);
    const describeOne = async (eci: EciClient, id: string) => {
      const r = await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
      assert.equal(r.body!.totalCount, 1, `expected ${id} to be listed`);
      return r.body!.containerGroups![0];
    };
    /** The raw DescribeContainerGroups item (with the fields the SDK model does not know). */
    const rawOne = async (key: TestKey, id: string) => {
      const r = await server.client(key).call('eci', 'DescribeContainerGroups', { ContainerGroupIds: JSON.stringify([id]) });
      assert.equal(r.TotalCount, 1);
      return r.ContainerGroups[0];
    };
    const del = (eci: EciClient, id: string) => eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: id }));
    /** A VPC with one vSwitch per given CIDR (zone h) and a security group. */
    const network = async (c: Clients, vpcCidr: string, vswCidrs: string[], zoneId = 'cn-hangzhou-h') => {
      const vpcId = (await c.vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: vpcCidr }))).body!.vpcId!;
      const vSwitchIds: string[] = [];
      for (const cidrBlock of vswCidrs)
        vSwitchIds.push((await c.vpc.createVSwitch(new $Vpc.CreateVSwitchRequest({ regionId: REGION, vpcId, zoneId, cidrBlock }))).body!.vSwitchId!);
      const sgId = (await c.ecs.createSecurityGroup(new $Ecs.CreateSecurityGroupRequest({ regionId: REGION, vpcId }))).body!.securityGroupId!;
      return { vpcId, vSwitchIds, sgId };
    };

    before(async () => {
      if (store === 'postgres') pg = await startPostgres();
      server = await startServer(pg ? { storeUrl: pg.createDatabase('eci') } : {});
    });
    after(async () => {
      await server?.close();
      pg?.stop();
    });

    it('creates a group with a rich spec and reads every field back (signature V3)', async () => {
      const { eci, key } = as('rich');
      const M = $Eci;
      const id = await create(eci, {
        containerGroupName: 'web-1',
        cpu: 2,
        memory: 4,
        restartPolicy: 'OnFailure',
        tag: [new M.CreateContainerGroupRequestTag({ key: 'env', value: 'dev' }), new M.CreateContainerGroupRequestTag({ key: 'team', value: 'a b!*()' })],
        container: [
          new M.CreateContainerGroupRequestContainer({
            name: 'nginx',
            image: 'nginx:1.25',
            cpu: 1,
            memory: 2,
            command: ['/bin/sh', '-c'],
            arg: ['echo hi & sleep 3600'],
            workingDir: '/srv',
            imagePullPolicy: 'Always',
            port: [new M.CreateContainerGroupRequestContainerPort({ port: 80, protocol: 'TCP' }), new M.CreateContainerGroupRequestContainerPort({ port: 53, protocol: 'UDP' })],
            environmentVar: [
              new M.CreateContainerGroupRequestContainerEnvironmentVar({ key: 'A', value: "x y!*'()" }),
              new M.CreateContainerGroupRequestContainerEnvironmentVar({ key: 'POD_IP', fieldRef: new M.CreateContainerGroupRequestContainerEnvironmentVarFieldRef({ fieldPath: 'status.podIP' }) }),
            ],
            volumeMount: [
              new M.CreateContainerGroupRequestContainerVolumeMount({ name: 'config', mountPath: '/etc/app', readOnly: true, subPath: 'sub/dir', mountPropagation: 'HostToContainer' }),
              new M.CreateContainerGroupRequestContainerVolumeMount({ name: 'scratch', mountPath: '/tmp/scratch' }),
            ],
            readinessProbe: new M.CreateContainerGroupRequestContainerReadinessProbe({
              httpGet: new M.CreateContainerGroupRequestContainerReadinessProbeHttpGet({ path: '/healthz', port: 80, scheme: 'HTTP' }),
              periodSeconds: 5,
              initialDelaySeconds: 3,
            }),
            livenessProbe: new M.CreateContainerGroupRequestContainerLivenessProbe({
              exec: new M.CreateContainerGroupRequestContainerLivenessProbeExec({ command: ['cat', '/tmp/alive'] }),
              failureThreshold: 5,
            }),
            securityContext: new M.CreateContainerGroupRequestContainerSecurityContext({
              capability: new M.CreateContainerGroupRequestContainerSecurityContextCapability({ add: ['NET_ADMIN', 'sys_ptrace'] }),
              readOnlyRootFilesystem: true,
              runAsUser: 1000,
            }),
            securityContextRunAsGroup: 2000,
            lifecyclePreStopHandlerExec: ['nginx', '-s', 'quit'],
            lifecyclePostStartHandlerHttpGetPort: 80,
            lifecyclePostStartHandlerHttpGetPath: '/warm',
            lifecyclePostStartHandlerHttpGetHttpHeader: [new M.CreateContainerGroupRequestContainerLifecyclePostStartHandlerHttpGetHttpHeader({ name: 'X-A', value: '1' })],
            stdin: true,
            tty: true,
          }),
          new M.CreateContainerGroupRequestContainer({
            name: 'sidecar',
            image: 'busybox',
            livenessProbe: new M.CreateContainerGroupRequestContainerLivenessProbe({ tcpSocket: new M.CreateContainerGroupRequestContainerLivenessProbeTcpSocket({ port: 8080 }) }),
          }),
        ],
        initContainer: [
          new M.CreateContainerGroupRequestInitContainer({ name: 'init-db', image: 'busybox', command: ['sh', '-c', 'true'], arg: ['x'], cpu: 0.5, memory: 1 }),
        ],
        volume: [
          new M.CreateContainerGroupRequestVolume({
            name: 'config',
            type: 'ConfigFileVolume',
            configFileVolume: new M.CreateContainerGroupRequestVolumeConfigFileVolume({
              defaultMode: 0o600,
              configFileToPath: [new M.CreateContainerGroupRequestVolumeConfigFileVolumeConfigFileToPath({ path: 'sub/dir/app.conf', content: b64('a=1\n'), mode: 0o644 })],
            }),
          }),
          new M.CreateContainerGroupRequestVolume({ name: 'scratch', type: 'EmptyDirVolume', emptyDirVolume: new M.CreateContainerGroupRequestVolumeEmptyDirVolume({ medium: 'Memory', sizeLimit: '256Mi' }) }),
        ],
        dnsPolicy: 'None',
        dnsConfig: new M.CreateContainerGroupRequestDnsConfig({
          nameServer: ['10.0.0.10'],
          search: ['svc.cluster.local'],
          option: [new M.CreateContainerGroupRequestDnsConfigOption({ name: 'ndots', value: '2' })],
        }),
        hostAliase: [new M.CreateContainerGroupRequestHostAliase({ ip: '1.2.3.4', hostname: ['a.example.com', 'b.example.com'] })],
        hostName: 'web-host',
        ntpServer: ['100.100.3.1', 'ntp.example.com'],
        terminationGracePeriodSeconds: 45,
        activeDeadlineSeconds: 3600,
        imageRegistryCredential: [new M.CreateContainerGroupRequestImageRegistryCredential({ server: 'registry.example.com:5000', userName: 'u', password: 'secret' })],
        plainHttpRegistry: 'harbor.example.com,192.168.1.2:5000',
        insecureRegistry: 'insecure.example.com',
        // No image cache exists: the group proceeds without one (ImageSnapshotId is tested in image-cache.test.ts).
        autoMatchImageCache: true,
        securityContext: new M.CreateContainerGroupRequestSecurityContext({ sysctl: [new M.CreateContainerGroupRequestSecurityContextSysctl({ name: 'net.core.somaxconn', value: '1024' })] }),
        shareProcessNamespace: true,
        ephemeralStorage: 20,
        corePattern: '/pod/data/dump/core',
        ingressBandwidth: 10_000_000,
        egressBandwidth: 20_000_000,
        resourceGroupId: 'rg-1',
        scheduleStrategy: 'VSwitchOrdered',
        osType: 'Linux',
        cpuArchitecture: 'AMD64',
        spotStrategy: 'NoSpot',
      });
      assert.match(id, /^eci-[a-z2-7]{20}$/);

      const g = await describeOne(eci, id);
      assert.equal(g.containerGroupId, id);
      assert.equal(g.containerGroupName, 'web-1');
      assert.equal(g.status, 'Scheduling');
      assert.equal(g.regionId, REGION);
      assert.equal(g.zoneId, 'cn-hangzhou-h');
      assert.match(g.vpcId!, /^vpc-/);
      assert.match(g.vSwitchId!, /^vsw-/);
      assert.match(g.securityGroupId!, /^sg-/);
      assert.match(g.eniInstanceId!, /^eni-/);
      assert.equal(g.intranetIp, '172.16.0.2');
      assert.equal(g.internetIp, '');
      assert.equal(g.cpu, 2);
      assert.equal(g.memory, 4);
      assert.equal(g.restartPolicy, 'OnFailure');
      assert.equal(g.resourceGroupId, 'rg-1');
      assert.equal(g.ephemeralStorage, 20);
      assert.match(g.creationTime!, RFC3339);
      assert.deepEqual(g.tags!.map((t) => [t.key, t.value]), [['env', 'dev'], ['team', 'a b!*()']]);
      assert.deepEqual(g.dnsConfig!.nameServers, ['10.0.0.10']);
      assert.deepEqual(g.dnsConfig!.searches, ['svc.cluster.local']);
      assert.deepEqual(g.dnsConfig!.options!.map((o) => [o.name, o.value]), [['ndots', '2']]);
      assert.deepEqual(g.hostAliases!.map((h) => [h.ip, h.hostnames]), [['1.2.3.4', ['a.example.com', 'b.example.com']]]);
      assert.deepEqual(g.eciSecurityContext!.sysctls!.map((s) => [s.name, s.value]), [['net.core.somaxconn', '1024']]);
      assert.deepEqual(g.events!.map((e) => e.reason), ['SuccessfulAssignIp', 'ImageCacheMissed', 'Scheduling']);
      // AutoMatchImageCache without a matching cache: the reference's Warning ImageCacheMissed.
      assert.deepEqual(g.events!.map((e) => e.type), ['Normal', 'Warning', 'Normal']);
      assert.ok(g.events!.every((e) => e.count === 1 && RFC3339.test(e.firstTimestamp!)));

      const [nginx, sidecar] = g.containers!;
      assert.equal(nginx.name, 'nginx');
      assert.equal(nginx.image, 'nginx:1.25');
      assert.equal(nginx.cpu, 1);
      assert.equal(nginx.memory, 2);
      assert.equal(nginx.imagePullPolicy, 'Always');
      assert.deepEqual(nginx.commands, ['/bin/sh', '-c']);
      assert.deepEqual(nginx.args, ['echo hi & sleep 3600']);
      assert.equal(nginx.workingDir, '/srv');
      assert.deepEqual(nginx.ports!.map((x) => [x.port, x.protocol]), [[80, 'TCP'], [53, 'UDP']]);
      assert.equal(nginx.environmentVars![0].key, 'A');
      assert.equal(nginx.environmentVars![0].value, "x y!*'()");
      assert.equal(nginx.environmentVars![1].valueFrom!.fieldRef!.fieldPath, 'status.podIP');
      assert.deepEqual(
        nginx.volumeMounts!.map((m) => [m.name, m.mountPath, m.readOnly, m.subPath, m.mountPropagation]),
        [['config', '/etc/app', true, 'sub/dir', 'HostToContainer'], ['scratch', '/tmp/scratch', false, '', 'None']],
      );
      assert.equal(nginx.readinessProbe!.httpGet!.path, '/healthz');
      assert.equal(nginx.readinessProbe!.httpGet!.port, 80);
      assert.equal(nginx.readinessProbe!.httpGet!.scheme, 'HTTP');
      assert.equal(nginx.readinessProbe!.periodSeconds, 5);
      assert.equal(nginx.readinessProbe!.initialDelaySeconds, 3);
      assert.equal(nginx.readinessProbe!.timeoutSeconds, 1);
      assert.deepEqual(nginx.livenessProbe!.execs, ['cat', '/tmp/alive']);
      assert.equal(nginx.livenessProbe!.failureThreshold, 5);
      assert.equal(sidecar.livenessProbe!.tcpSocket!.port, 8080);
      assert.deepEqual(nginx.securityContext!.capability!.adds, ['NET_ADMIN', 'SYS_PTRACE']);
      assert.equal(nginx.securityContext!.readOnlyRootFilesystem, true);
      assert.equal(nginx.securityContext!.runAsUser, 1000);
      assert.equal(nginx.stdin, true);
      assert.equal(nginx.tty, true);
      assert.equal(nginx.ready, false);
      assert.equal(nginx.restartCount, 0);
      assert.equal(nginx.currentState!.state, 'Waiting');
      assert.equal(nginx.currentState!.reason, 'Scheduling');
      assert.equal(sidecar.image, 'busybox');
      assert.equal(sidecar.imagePullPolicy, 'IfNotPresent');

      const [init] = g.initContainers!;
      assert.equal(init.name, 'init-db');
      assert.deepEqual(init.command, ['sh', '-c', 'true']);
      assert.deepEqual(init.args, ['x']);
      assert.equal(init.cpu, 0.5);
      assert.equal(init.currentState!.state, 'Waiting');

      const [config, scratch] = g.volumes!;
      assert.equal(config.name, 'config');
      assert.equal(config.type, 'ConfigFileVolume');
      assert.deepEqual(config.configFileVolumeConfigFileToPaths!.map((f) => [f.path, f.content]), [['sub/dir/app.conf', b64('a=1\n')]]);
      assert.equal(scratch.type, 'EmptyDirVolume');
      assert.equal(scratch.emptyDirVolumeMedium, 'Memory');
      assert.equal(scratch.emptyDirVolumeSizeLimit, '256Mi');

      // What the SDK model has no field for, read raw.
      const raw = await rawOne(key, id);
      assert.equal(raw.HostName, 'web-host');
      assert.deepEqual(raw.NtpServers, ['100.100.3.1', 'ntp.example.com']);
      assert.equal(raw.DnsPolicy, 'None');
      assert.equal(raw.TerminationGracePeriodSeconds, 45);
      assert.equal(raw.ActiveDeadlineSeconds, 3600);
      assert.deepEqual(raw.ImageRegistryCredentials, [{ Server: 'registry.example.com:5000', UserName: 'u' }]);
      assert.ok(!JSON.stringify(raw).includes('secret'), 'a registry password is never shown');
      assert.equal(raw.PlainHttpRegistry, 'harbor.example.com,192.168.1.2:5000');
      assert.equal(raw.InsecureRegistry, 'insecure.example.com');
      assert.equal(raw.AutoMatchImageCache, true);
      assert.equal(raw.ImageSnapshotId, '');
      assert.equal(raw.ShareProcessNamespace, true);
      assert.equal(raw.CorePattern, '/pod/data/dump/core');
      assert.equal(raw.IngressBandwidth, 10_000_000);
      assert.equal(raw.EgressBandwidth, 20_000_000);
      assert.equal(raw.ScheduleStrategy, 'VSwitchOrdered');
      assert.equal(raw.MaxPendingMinute, 240);
      assert.equal(raw.Generation, 1);
      assert.equal(raw.Containers[0].SecurityContext.RunAsGroup, 2000);
      assert.deepEqual(raw.Containers[0].LifecyclePreStopHandler.Execs, ['nginx', '-s', 'quit']);
      assert.deepEqual(raw.Containers[0].LifecyclePostStartHandler.HttpGet, { Host: '', Path: '/warm', Port: 80, Scheme: 'HTTP', HttpHeaders: [{ Name: 'X-A', Value: '1' }] });
      assert.equal(raw.Volumes[0].ConfigFileVolumeDefaultMode, 0o600);
      assert.equal(raw.Volumes[0].ConfigFileVolumeConfigFileToPaths[0].Mode, 0o644);
    });

    it('creates with signature V1 (HMAC-SHA1) and reads the group back', async () => {
      const { key } = as('v1');
      const eciV1 = new EciClient(server.sdkConfig(key, { signatureAlgorithm: 'v2' }));
      const id = await create(eciV1, {
        containerGroupName: 'v1-group',
        container: [container({ name: 'c', environmentVar: [new $Eci.CreateContainerGroupRequestContainerEnvironmentVar({ key: 'K', value: "a+b c!*'();&=" })] })],
      });
      const g = await describeOne(eciV1, id);
      assert.equal(g.containerGroupName, 'v1-group');
      assert.equal(g.containers![0].environmentVars![0].value, "a+b c!*'();&=");
      assert.equal(g.status, 'Scheduling');
    });

    it('fills defaults and creates the default VPC, vSwitches and security group once', async () => {
      const c = as('defaults');
      const a = await create(c.eci, { containerGroupName: 'ga', container: [container({ port: [new $Eci.CreateContainerGroupRequestContainerPort({ port: 8080 })] })] });
      const b = await create(c.eci, { containerGroupName: 'gb', container: [container({ cpu: 0.5, memory: 1 }), container({ name: 'two', cpu: 0.25, memory: 0.5 })] });
      const z = await create(c.eci, { containerGroupName: 'gz', zoneId: 'cn-hangzhou-i' });
      const [ga, gb, gz] = [await describeOne(c.eci, a), await describeOne(c.eci, b), await describeOne(c.eci, z)];
      // Size: none given and none on the containers → 2 vCPU / 4 GiB; otherwise what the containers need.
      assert.deepEqual([ga.cpu, ga.memory], [2, 4]);
      assert.deepEqual([gb.cpu, gb.memory], [0.75, 1.5]);
      assert.equal(ga.restartPolicy, 'Always');
      assert.deepEqual(ga.dnsConfig, new $Eci.DescribeContainerGroupsResponseBodyContainerGroupsDnsConfig({ nameServers: [], searches: [], options: [] }));
      assert.equal(ga.containers![0].ports![0].protocol, 'TCP');
      assert.equal(ga.containers![0].imagePullPolicy, 'IfNotPresent');
      // One default VPC and security group; one default vSwitch per zone used.
      assert.equal(ga.vpcId, gb.vpcId);
      assert.equal(ga.vpcId, gz.vpcId);
      assert.equal(ga.vSwitchId, gb.vSwitchId);
      assert.notEqual(ga.vSwitchId, gz.vSwitchId);
      assert.equal(ga.securityGroupId, gz.securityGroupId);
      assert.deepEqual([ga.intranetIp, gb.intranetIp], ['172.16.0.2', '172.16.0.3']);
      assert.equal(gz.zoneId, 'cn-hangzhou-i');
      assert.equal(gz.intranetIp, '172.16.16.2');
      const vpcs = (await c.vpc.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION }))).body!;
      assert.equal(vpcs.totalCount, 1);
      assert.equal(vpcs.vpcs!.vpc![0].isDefault, true);
      assert.equal(vpcs.vpcs!.vpc![0].cidrBlock, '172.16.0.0/12');
      const vsws = (await c.vpc.describeVSwitches(new $Vpc.DescribeVSwitchesRequest({ regionId: REGION, vpcId: ga.vpcId }))).body!;
      assert.deepEqual(
        vsws.vSwitches!.vSwitch!.map((v) => [v.zoneId, v.cidrBlock, v.isDefault]).sort(),
        [['cn-hangzhou-h', '172.16.0.0/20', true], ['cn-hangzhou-i', '172.16.16.0/20', true]],
      );
      const sgs = (await c.ecs.describeSecurityGroups(new $Ecs.DescribeSecurityGroupsRequest({ regionId: REGION }))).body!;
      assert.equal(sgs.totalCount, 1);
      // The default group opens the ports its containers declare.
      const sg = (await c.ecs.describeSecurityGroupAttribute(new $Ecs.DescribeSecurityGroupAttributeRequest({ regionId: REGION, securityGroupId: ga.securityGroupId }))).body!;
      assert.deepEqual(
        sg.permissions!.permission!.map((r) => [r.direction, r.ipProtocol, r.portRange, r.sourceCidrIp, r.policy]),
        [['ingress', 'TCP', '8080/8080', '0.0.0.0/0', 'Accept']],
      );
    });

    it('refuses bad input with the reference codes and HTTP statuses', async () => {
      const { eci } = as('validation');
      const M = $Eci;
      const cases: [string, CreateFields, string, number][] = [
        ['upper-case name', { containerGroupName: 'Web' }, 'InvalidParameter', 400],
        ['leading hyphen', { containerGroupName: '-web' }, 'InvalidParameter', 400],
        ['one-character group name', { containerGroupName: 'a' }, 'InvalidParameter', 400],
        ['trailing hyphen in a container name', { container: [container({ name: 'app-' })] }, 'InvalidParameter', 400],
        ['no name', { containerGroupName: undefined }, 'MissingParameter', 400],
        ['no container', { container: [] }, 'MissingParameter', 400],
        ['no image', { container: [new M.CreateContainerGroupRequestContainer({ name: 'x' })] }, 'MissingParameter', 400],
        ['bad container name', { container: [container({ name: 'Web_1' })] }, 'InvalidParameter', 400],
        ['duplicate names', { container: [container()], initContainer: [new M.CreateContainerGroupRequestInitContainer({ name: 'app', image: 'busybox' })] }, 'InvalidParameter', 400],
        ['port out of range', { container: [container({ port: [new M.CreateContainerGroupRequestContainerPort({ port: 70000 })] })] }, 'InvalidParameter', 400],
        ['bad protocol', { container: [container({ port: [new M.CreateContainerGroupRequestContainerPort({ port: 80, protocol: 'SCTP' })] })] }, 'InvalidParameter', 400],
        ['same port twice', { container: [container({ port: [new M.CreateContainerGroupRequestContainerPort({ port: 80 })] }), container({ name: 'b', port: [new M.CreateContainerGroupRequestContainerPort({ port: 80 })] })] }, 'InvalidParameter', 400],
        ['mount of an undeclared volume', { container: [container({ volumeMount: [new M.CreateContainerGroupRequestContainerVolumeMount({ name: 'nope', mountPath: '/x' })] })] }, 'InvalidParameter', 400],
        ['relative mount path', { container: [container({ volumeMount: [new M.CreateContainerGroupRequestContainerVolumeMount({ name: 'v', mountPath: 'x' })] })], volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'EmptyDirVolume' })] }, 'InvalidParameter', 400],
        ['content not base64', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'ConfigFileVolume', configFileVolume: new M.CreateContainerGroupRequestVolumeConfigFileVolume({ configFileToPath: [new M.CreateContainerGroupRequestVolumeConfigFileVolumeConfigFileToPath({ path: 'a', content: 'not base64!' })] }) })] }, 'InvalidParameter', 400],
        ['config path climbing out', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'ConfigFileVolume', configFileVolume: new M.CreateContainerGroupRequestVolumeConfigFileVolume({ configFileToPath: [new M.CreateContainerGroupRequestVolumeConfigFileVolumeConfigFileToPath({ path: '../etc/passwd', content: b64('x') })] }) })] }, 'InvalidParameter', 400],
        ['config files over 1 MiB', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'ConfigFileVolume', configFileVolume: new M.CreateContainerGroupRequestVolumeConfigFileVolume({ configFileToPath: [new M.CreateContainerGroupRequestVolumeConfigFileVolumeConfigFileToPath({ path: 'a', content: b64('x'.repeat(1024 * 1024 + 1)) })] }) })] }, 'InvalidParameter', 400],
        ['unknown volume type', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'CephVolume' })] }, 'InvalidParameter', 400],
        ['volume without type', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v' })] }, 'MissingParameter', 400],
        ['two probe handlers', { container: [container({ readinessProbe: new M.CreateContainerGroupRequestContainerReadinessProbe({ exec: new M.CreateContainerGroupRequestContainerReadinessProbeExec({ command: ['true'] }), tcpSocket: new M.CreateContainerGroupRequestContainerReadinessProbeTcpSocket({ port: 80 }) }) })] }, 'InvalidParameter', 400],
        ['probe without handler', { container: [container({ livenessProbe: new M.CreateContainerGroupRequestContainerLivenessProbe({ periodSeconds: 3 }) })] }, 'InvalidParameter', 400],
        ['bad env field', { container: [container({ environmentVar: [new M.CreateContainerGroupRequestContainerEnvironmentVar({ key: 'A', fieldRef: new M.CreateContainerGroupRequestContainerEnvironmentVarFieldRef({ fieldPath: 'spec.secret' }) })] })] }, 'InvalidParameter', 400],
        ['host-reaching capability', { container: [container({ securityContext: new M.CreateContainerGroupRequestContainerSecurityContext({ capability: new M.CreateContainerGroupRequestContainerSecurityContextCapability({ add: ['SYS_ADMIN'] }) }) })] }, 'InvalidParameter', 400],
        ['bad restart policy', { restartPolicy: 'Sometimes' }, 'InvalidParameter', 400],
        ['group smaller than containers', { cpu: 1, memory: 2, container: [container({ cpu: 2 })] }, 'InvalidParameter', 400],
        ['non-namespaced sysctl', { securityContext: new M.CreateContainerGroupRequestSecurityContext({ sysctl: [new M.CreateContainerGroupRequestSecurityContextSysctl({ name: 'vm.swappiness', value: '1' })] }) }, 'InvalidParameter', 400],
        ['DnsPolicy None without servers', { dnsPolicy: 'None' }, 'InvalidParameter', 400],
        ['bad name server', { dnsConfig: new M.CreateContainerGroupRequestDnsConfig({ nameServer: ['dns.example.com'] }) }, 'InvalidParameter', 400],
        ['bad host alias IP', { hostAliase: [new M.CreateContainerGroupRequestHostAliase({ ip: '1.2.3', hostname: ['a'] })] }, 'InvalidParameter', 400],
        ['21 tags', { tag: Array.from({ length: 21 }, (_, i) => new M.CreateContainerGroupRequestTag({ key: `k${i}`, value: 'v' })) }, 'InvalidParameter', 400],
        ['EipBandwidth without AutoCreateEip', { eipBandwidth: 10 }, 'InvalidParameter', 400],
        ['EIP bandwidth over the limit', { autoCreateEip: true, eipBandwidth: 500 }, 'InvalidParameter', 400],
        ['both AutoCreateEip and EipInstanceId', { autoCreateEip: true, eipInstanceId: 'eip-x' }, 'InvalidParameter', 400],
        ['unknown zone', { zoneId: 'cn-hangzhou-z' }, 'InvalidZoneId.NotFound', 404],
        ['unknown vSwitch', { vSwitchId: 'vsw-doesnotexist' }, 'InvalidVSwitchId.NotFound', 404],
        ['unknown security group', { securityGroupId: 'sg-doesnotexist' }, 'InvalidSecurityGroupId.NotFound', 404],
        ['unknown EIP', { eipInstanceId: 'eip-doesnotexist' }, 'InvalidAllocationId.NotFound', 404],
        ['malformed private IP', { privateIpAddress: '172.16.0.300' }, 'InvalidPrivateIpAddress.Malformed', 400],
        // Parameters OpenECI cannot honour.
        ['Windows', { osType: 'Windows' }, 'UnsupportedParameter', 400],
        ['ARM64', { cpuArchitecture: 'ARM64' }, 'UnsupportedParameter', 400],
        ['spot', { spotStrategy: 'SpotAsPriceGo' }, 'UnsupportedParameter', 400],
        ['spot price limit', { spotStrategy: 'SpotWithPriceLimit', spotPriceLimit: 0.5 }, 'UnsupportedParameter', 400],
        ['GPU', { container: [container({ gpu: 1 })] }, 'UnsupportedParameter', 400],
        ['NFS volume', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'NFSVolume', NFSVolume: new M.CreateContainerGroupRequestVolumeNFSVolume({ server: 'nfs', path: '/x' }) })] }, 'UnsupportedParameter', 400],
        ['disk volume', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'DiskVolume' })] }, 'UnsupportedParameter', 400],
        ['host path volume', { volume: [new M.CreateContainerGroupRequestVolume({ name: 'v', type: 'HostPathVolume', hostPathVolume: new M.CreateContainerGroupRequestVolumeHostPathVolume({ path: '/etc' }) })] }, 'UnsupportedParameter', 400],
        ['image acceleration', { imageAccelerateMode: 'nydus' }, 'UnsupportedParameter', 400],
        ['IPv6', { ipv6AddressCount: 1 }, 'UnsupportedParameter', 400],
        ['ECS instance type', { instanceType: 'ecs.c6.large' }, 'UnsupportedParameter', 400],
        ['RAM role', { ramRoleName: 'role' }, 'UnsupportedParameter', 400],
        ['data cache', { dataCacheBucket: 'default' }, 'UnsupportedParameter', 400],
        ['ACR EE', { acrRegistryInfo: [new M.CreateContainerGroupRequestAcrRegistryInfo({ instanceId: 'cri-1' })] }, 'UnsupportedParameter', 400],
        ['host sysctl', { hostSecurityContext: new M.CreateContainerGroupRequestHostSecurityContext({ sysctl: [new M.CreateContainerGroupRequestHostSecurityContextSysctl({ name: 'net.core.somaxconn', value: '1' })] }) }, 'UnsupportedParameter', 400],
      ];
      for (const [what, fields, code, status] of cases) {
        const e = await rejection(() => create(eci, fields));
        assert.equal(e.code, code, `${what}: ${e.data?.Message ?? e.message}`);
        assert.equal(e.statusCode, status, what);
        assert.ok(e.data.Message.length > 20, `${what}: a message that explains`);
      }
      // Nothing was created by any of them, not even the default network.
      const listed = await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION }));
      assert.equal(listed.body!.totalCount, 0);
      // Values that ask for nothing unsupported pass.
      const ok = await create(eci, { osType: 'Linux', cpuArchitecture: 'AMD64', spotStrategy: 'NoSpot', container: [container({ gpu: 0 })], instanceType: '1-2Gi' });
      const g = await describeOne(eci, ok);
      assert.deepEqual([g.cpu, g.memory, g.instanceType], [1, 2, '1-2Gi']);
    });

    it('gives every group its own private IP, honours PrivateIpAddress and frees the address on delete', async () => {
      const c = as('ipam');
      const net = await network(c, '10.0.0.0/16', ['10.0.1.0/24', '10.0.2.0/24']);
      const onNet = (fields: CreateFields) => create(c.eci, { vSwitchId: net.vSwitchIds[0], securityGroupId: net.sgId, ...fields });
      const first = await onNet({ containerGroupName: 'first' });
      const second = await onNet({ containerGroupName: 'second' });
      assert.equal((await describeOne(c.eci, first)).intranetIp, '10.0.1.2');
      assert.equal((await describeOne(c.eci, second)).intranetIp, '10.0.1.3');
      const fixed = await onNet({ containerGroupName: 'fixed', privateIpAddress: '10.0.1.50' });
      const gf = await describeOne(c.eci, fixed);
      assert.equal(gf.intranetIp, '10.0.1.50');
      assert.equal(gf.vpcId, net.vpcId);
      assert.equal(gf.vSwitchId, net.vSwitchIds[0]);
      assert.equal(gf.securityGroupId, net.sgId);

      for (const [ip, code] of [
        ['10.0.1.50', 'InvalidPrivateIpAddress.Duplicated'],
        ['10.0.9.5', 'InvalidPrivateIpAddress.MismatchVSwitch'],
        ['10.0.1.1', 'InvalidPrivateIpAddress.Reserved'],
        ['10.0.1.255', 'InvalidPrivateIpAddress.Reserved'],
        ['nonsense', 'InvalidPrivateIpAddress.Malformed'],
      ]) {
        const e = await rejection(() => onNet({ containerGroupName: 'clash', privateIpAddress: ip }));
        assert.equal(e.code, code, ip);
        assert.equal(e.statusCode, 400, ip);
      }
      // A create that fails after taking an address gives it back (one transaction).
      const failed = await rejection(() => onNet({ containerGroupName: 'eipless', eipInstanceId: 'eip-doesnotexist' }));
      assert.equal(failed.code, 'InvalidAllocationId.NotFound');
      const third = await onNet({ containerGroupName: 'third' });
      assert.equal((await describeOne(c.eci, third)).intranetIp, '10.0.1.4');

      // Deleting releases the address: a new group can have it.
      await del(c.eci, fixed);
      const again = await onNet({ containerGroupName: 'again', privateIpAddress: '10.0.1.50' });
      assert.equal((await describeOne(c.eci, again)).intranetIp, '10.0.1.50');
      // The second vSwitch, named first, is the one used (VSwitchOrdered); a listed vSwitch holds the wanted address.
      const multi = await create(c.eci, { containerGroupName: 'multi', vSwitchId: `${net.vSwitchIds[1]},${net.vSwitchIds[0]}`, securityGroupId: net.sgId });
      const gm = await describeOne(c.eci, multi);
      assert.equal(gm.vSwitchId, net.vSwitchIds[1]);
      assert.equal(gm.intranetIp, '10.0.2.2');
      const picked = await create(c.eci, { containerGroupName: 'picked', vSwitchId: `${net.vSwitchIds[1]},${net.vSwitchIds[0]}`, securityGroupId: net.sgId, privateIpAddress: '10.0.1.77' });
      assert.equal((await describeOne(c.eci, picked)).vSwitchId, net.vSwitchIds[0]);
    });

    it('checks that vSwitches and security groups share one VPC', async () => {
      const c = as('vpcs');
      const a = await network(c, '10.1.0.0/16', ['10.1.1.0/24']);
      const b = await network(c, '10.2.0.0/16', ['10.2.1.0/24']);
      let e = await rejection(() => create(c.eci, { vSwitchId: `${a.vSwitchIds[0]},${b.vSwitchIds[0]}`, securityGroupId: a.sgId }));
      assert.equal(e.code, 'InvalidVSwitchId.VpcMismatch');
      e = await rejection(() => create(c.eci, { vSwitchId: a.vSwitchIds[0], securityGroupId: b.sgId }));
      assert.equal(e.code, 'InvalidSecurityGroup.VpcMismatch');
      e = await rejection(() => create(c.eci, { vSwitchId: a.vSwitchIds[0], zoneId: 'cn-hangzhou-i', securityGroupId: a.sgId }));
      assert.equal(e.code, 'InvalidParameter');
      // Up to five security groups of the vSwitch's VPC.
      const second = (await c.ecs.createSecurityGroup(new $Ecs.CreateSecurityGroupRequest({ regionId: REGION, vpcId: a.vpcId }))).body!.securityGroupId!;
      const id = await create(c.eci, { vSwitchId: a.vSwitchIds[0], securityGroupId: `${a.sgId},${second}` });
      assert.equal((await describeOne(c.eci, id)).securityGroupId, `${a.sgId},${second}`);
      // Without a security group, the group gets its VPC's default one (not the default VPC's).
      const dflt = await create(c.eci, { containerGroupName: 'dflt', vSwitchId: a.vSwitchIds[0] });
      const gd = await describeOne(c.eci, dflt);
      const sg = (await c.ecs.describeSecurityGroupAttribute(new $Ecs.DescribeSecurityGroupAttributeRequest({ regionId: REGION, securityGroupId: gd.securityGroupId }))).body!;
      assert.equal(sg.vpcId, a.vpcId);
    });

    it('auto-creates an EIP that is released with the group, and leaves a user EIP Available', async () => {
      const c = as('eips');
      const eipOf = async (allocationId: string) =>
        (await c.vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId }))).body!.eipAddresses!.eipAddress!;
      const auto = await create(c.eci, { containerGroupName: 'auto', autoCreateEip: true, eipBandwidth: 10, eipISP: 'BGP' });
      const raw = await rawOne(c.key, auto);
      assert.match(raw.EipInstanceId, /^eip-/);
      assert.equal(raw.AutoCreateEip, true);
      assert.equal(raw.EipBandwidth, 10);
      // No host runs the group, so its EIP is bound in the store but not yet InUse, and it has no InternetIp.
      assert.equal(raw.InternetIp, '');
      const [eip] = await eipOf(raw.EipInstanceId);
      assert.equal(eip.status, 'Associating');
      assert.equal(eip.instanceId, auto);
      assert.equal(eip.instanceType, 'EciInstance');
      assert.equal(eip.privateIpAddress, raw.IntranetIp);
      assert.equal(eip.bandwidth, '10');
      assert.equal(eip.ISP, 'BGP');
      assert.match(eip.ipAddress!, /^203\.0\.113\.\d+$/);
      const events = (await describeOne(c.eci, auto)).events!.map((e) => e.reason);
      assert.deepEqual(events, ['SuccessfulAssignIp', 'AssociatingEip', 'Scheduling']);

      await del(c.eci, auto);
      assert.equal((await eipOf(raw.EipInstanceId)).length, 0, 'the auto-created EIP is released with its group');
      // Its address went back to the pool.
      const reused = await c.vpc.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, ipAddress: eip.ipAddress }));
      assert.equal(reused.body!.eipAddress, eip.ipAddress);

      // A user's EIP: bound at create, back to Available (and kept) when the group goes.
      const userEip = reused.body!.allocationId!;
      const withEip = await create(c.eci, { containerGroupName: 'user-eip', eipInstanceId: userEip });
      const [bound] = await eipOf(userEip);
      assert.equal(bound.status, 'Associating');
      assert.equal(bound.instanceId, withEip);
      const busy = await rejection(() => create(c.eci, { containerGroupName: 'second', eipInstanceId: userEip }));
      assert.equal(busy.code, 'IncorrectEipStatus');
      await del(c.eci, withEip);
      const [kept] = await eipOf(userEip);
      assert.equal(kept.status, 'Available');
      assert.equal(kept.instanceId, '');
    });

    it('adds an auto-created EIP to a common bandwidth package', async () => {
      const c = as('cbwp');
      const pkg = (await c.vpc.createCommonBandwidthPackage(new $Vpc.CreateCommonBandwidthPackageRequest({ regionId: REGION, bandwidth: 50 }))).body!.bandwidthPackageId!;
      const id = await create(c.eci, { autoCreateEip: true, eipCommonBandwidthPackage: pkg });
      const raw = await rawOne(c.key, id);
      const [eip] = (await c.vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId: raw.EipInstanceId }))).body!.eipAddresses!.eipAddress!;
      assert.equal(eip.bandwidthPackageId, pkg);
      const otherIsp = await rejection(() => create(c.eci, { autoCreateEip: true, eipCommonBandwidthPackage: pkg, eipISP: 'BGP_PRO' }));
      assert.equal(otherIsp.code, 'Mismatch.EipIspAndBandwidthPackageIsp');
      const missing = await rejection(() => create(c.eci, { autoCreateEip: true, eipCommonBandwidthPackage: 'cbwp-doesnotexist' }));
      assert.equal(missing.code, 'InvalidBandwidthPackageId.NotFound');
      assert.equal(missing.statusCode, 404);
      await del(c.eci, id);
      const gone = (await c.vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, allocationId: raw.EipInstanceId }))).body!;
      assert.equal(gone.totalCount, 0);
    });

    it('filters and pages DescribeContainerGroups with NextToken', async () => {
      const c = as('pager');
      const net = await network(c, '10.3.0.0/16', ['10.3.1.0/24']);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const tag = [new $Eci.CreateContainerGroupRequestTag({ key: 'tier', value: i % 2 ? 'odd' : 'even' })];
        ids.push(await create(c.eci, { containerGroupName: `page-${i}`, tag, ...(i === 4 ? { vSwitchId: net.vSwitchIds[0], securityGroupId: net.sgId } : {}) }));
      }
      const list = (fields: Record<string, unknown>) =>
        c.eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, ...fields })).then((r) => r.body!);
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await list({ limit: 2, nextToken: token });
        assert.equal(page.totalCount, 5);
        assert.ok(page.containerGroups!.length <= 2);
        seen.push(...page.containerGroups!.map((g) => g.containerGroupId!));
        token = page.nextToken || undefined;
        pages++;
      } while (token);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids);
      assert.equal((await list({ limit: 21 }).catch((e) => e)).code, 'InvalidParameter');
      assert.equal((await list({ nextToken: 'garbage' }).catch((e) => e)).code, 'InvalidParameter');

      const idsOf = (b: { containerGroups?: { containerGroupId?: string }[] }) => b.containerGroups!.map((g) => g.containerGroupId);
      assert.deepEqual(idsOf(await list({ containerGroupName: 'page-3' })), [ids[3]]);
      assert.deepEqual(idsOf(await list({ containerGroupIds: JSON.stringify([ids[4], ids[1], 'eci-unknown']) })), [ids[1], ids[4]]);
      assert.deepEqual(idsOf(await list({ tag: [new $Eci.DescribeContainerGroupsRequestTag({ key: 'tier', value: 'odd' })] })), [ids[1], ids[3]]);
      const tagged = await list({ tag: [new $Eci.DescribeContainerGroupsRequestTag({ key: 'tier', value: 'even' })], limit: 2 });
      assert.equal(tagged.totalCount, 3);
      assert.deepEqual(idsOf(tagged), [ids[0], ids[2]]);
      assert.deepEqual(idsOf(await list({ tag: [new $Eci.DescribeContainerGroupsRequestTag({ key: 'tier', value: 'even' })], nextToken: tagged.nextToken })), [ids[4]]);
      assert.deepEqual(idsOf(await list({ vSwitchId: net.vSwitchIds[0] })), [ids[4]]);
      assert.deepEqual(idsOf(await list({ status: 'Scheduling', limit: 20 })), ids);
      assert.deepEqual(idsOf(await list({ status: 'Running' })), []);
      assert.deepEqual(idsOf(await list({ zoneId: 'cn-hangzhou-i' })), []);
      const sgOfFirst = (await describeOne(c.eci, ids[0])).securityGroupId;
      // The SDK model has no SecurityGroupId filter; the reference documents one.
      const bySg = await server.client(c.key).call('eci', 'DescribeContainerGroups', { SecurityGroupId: sgOfFirst });
      assert.deepEqual(bySg.ContainerGroups.map((g: any) => g.ContainerGroupId), ids.slice(0, 4));
      const noEvents = await list({ containerGroupIds: JSON.stringify([ids[0]]), withEvent: false });
      assert.equal(noEvents.containerGroups![0].events, undefined);
      const malformed = await rejection(() => list({ containerGroupIds: 'eci-1,eci-2' }));
      assert.equal(malformed.code, 'InvalidParameter');
    });

    it('isolates tenants', async () => {
      const alice = as('alice');
      const bob = as('bob');
      const id = await create(alice.eci, { containerGroupName: 'private' });
      const g = await describeOne(alice.eci, id);
      const listed = await bob.eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
      assert.equal(listed.body!.totalCount, 0);
      assert.equal((await bob.eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION }))).body!.totalCount, 0);
      for (const call of [
        () => del(bob.eci, id),
        () => bob.eci.restartContainerGroup(new $Eci.RestartContainerGroupRequest({ regionId: REGION, containerGroupId: id })),
        () => bob.eci.updateContainerGroup(new $Eci.UpdateContainerGroupRequest({ regionId: REGION, containerGroupId: id, restartPolicy: 'Never' })),
        () => bob.eci.describeContainerLog(new $Eci.DescribeContainerLogRequest({ regionId: REGION, containerGroupId: id, containerName: 'app' })),
      ]) {
        const e = await rejection(call);
        assert.equal(e.code, 'InvalidContainerGroupId.NotFound');
        assert.equal(e.statusCode, 404);
      }
      // Bob cannot use Alice's vSwitch or security group either.
      const e = await rejection(() => create(bob.eci, { vSwitchId: g.vSwitchId }));
      assert.equal(e.code, 'InvalidVSwitchId.NotFound');
      const statusByBob = await bob.eci.describeContainerGroupStatus(new $Eci.DescribeContainerGroupStatusRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
      assert.equal(statusByBob.body!.totalCount, 0);
      assert.equal((await describeOne(alice.eci, id)).status, 'Scheduling');
    });

    it('answers IncorrectStatus for restart, logs and exec of a group no host runs', async () => {
      const { eci } = as('ops');
      const id = await create(eci, { containerGroupName: 'ops', container: [container({ name: 'main' })], initContainer: [new $Eci.CreateContainerGroupRequestInitContainer({ name: 'prep', image: 'busybox' })] });
      let e = await rejection(() => eci.restartContainerGroup(new $Eci.RestartContainerGroupRequest({ regionId: REGION, containerGroupId: id })));
      assert.equal(e.code, 'IncorrectStatus');
      assert.equal(e.statusCode, 400);
      assert.match(e.data.Message, /Scheduling/);

      const log = (fields: Record<string, unknown>) => eci.describeContainerLog(new $Eci.DescribeContainerLogRequest({ regionId: REGION, containerGroupId: id, ...fields }));
      e = await rejection(() => log({ containerName: 'main', tail: 100, timestamps: true, limitBytes: 1024 }));
      assert.equal(e.code, 'IncorrectStatus');
      assert.match(e.data.Message, /no host runs it yet/);
      e = await rejection(() => log({ containerName: 'prep', sinceSeconds: 60, lastTime: true }));
      assert.equal(e.code, 'IncorrectStatus');
      e = await rejection(() => log({ containerName: 'nope' }));
      assert.equal(e.code, 'InvalidParameter');
      e = await rejection(() => log({}));
      assert.equal(e.code, 'MissingParameter');
      e = await rejection(() => log({ containerName: 'main', tail: -1 }));
      assert.equal(e.code, 'InvalidParameter');

      const exec = (fields: Record<string, unknown>) => eci.execContainerCommand(new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: id, containerName: 'main', ...fields }));
      e = await rejection(() => exec({ command: JSON.stringify(['/bin/sh', '-c', 'ls']), sync: true }));
      assert.equal(e.code, 'IncorrectStatus');
      assert.equal(e.statusCode, 400);
      for (const bad of ['ls -l', JSON.stringify(Array.from({ length: 21 }, () => 'x')), JSON.stringify(['x'.repeat(257)]), JSON.stringify([1, 2])]) {
        e = await rejection(() => exec({ command: bad }));
        assert.equal(e.code, 'InvalidParameter', bad.slice(0, 40));
      }
      e = await rejection(() => exec({ command: JSON.stringify(['ls']), containerName: 'nope' }));
      assert.equal(e.code, 'InvalidParameter');
      e = await rejection(() => exec({}));
      assert.equal(e.code, 'MissingParameter');
      // Nothing changed.
      assert.equal((await describeOne(eci, id)).status, 'Scheduling');
    });

    it('describes status as a Kubernetes pod status and lists events', async () => {
      const { eci } = as('status');
      const id = await create(eci, {
        containerGroupName: 'stat',
        container: [container({ name: 'a', cpu: 1, memory: 1 }), container({ name: 'b', image: 'redis:7', cpu: 1, memory: 1 })],
        tag: [new $Eci.CreateContainerGroupRequestTag({ key: 'PodName', value: 'web-0' }), new $Eci.CreateContainerGroupRequestTag({ key: 'NameSpace', value: 'prod' })],
      });
      const ip = (await describeOne(eci, id)).intranetIp;
      const st = (await eci.describeContainerGroupStatus(new $Eci.DescribeContainerGroupStatusRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }))).body!;
      assert.equal(st.totalCount, 1);
      const d = st.data![0];
      assert.equal(d.containerGroupId, id);
      assert.equal(d.status, 'Scheduling');
      assert.equal(d.name, 'web-0');
      assert.equal(d.namespace, 'prod');
      assert.equal(d.podStatus!.phase, 'Pending');
      assert.equal(d.podStatus!.podIp, ip);
      assert.deepEqual(d.podStatus!.podIps!.map((x) => x.ip), [ip]);
      assert.equal(d.podStatus!.hostIp, '');
      assert.equal(d.podStatus!.qosClass, 'Guaranteed');
      const scheduled = d.podStatus!.conditions!.find((x) => x.type === 'PodScheduled')!;
      assert.equal(scheduled.status, 'False');
      assert.match(scheduled.lastTransitionTime!, RFC3339);
      assert.deepEqual(d.podStatus!.containerStatuses!.map((x) => [x.name, x.image, x.ready, x.restartCount, x.state!.waiting!.reason]), [['a', 'nginx:1.25', false, 0, 'Scheduling'], ['b', 'redis:7', false, 0, 'Scheduling']]);
      const recent = await eci.describeContainerGroupStatus(new $Eci.DescribeContainerGroupStatusRequest({ regionId: REGION, sinceSecond: 600 }));
      assert.deepEqual(recent.body!.data!.map((x) => x.containerGroupId), [id]);

      const ev = (await eci.describeContainerGroupEvents(new $Eci.DescribeContainerGroupEventsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }))).body!;
      assert.equal(ev.totalCount, 1);
      assert.equal(ev.data![0].containerGroupId, id);
      const events = ev.data![0].events!;
      assert.deepEqual(events.map((x) => [x.type, x.reason, x.count]), [['Normal', 'SuccessfulAssignIp', 1], ['Normal', 'Scheduling', 1]]);
      assert.match(events[0].message!, new RegExp(ip!.replace(/\./g, '\\.')));
      assert.match(events[0].firstTimestamp!, RFC3339);
      assert.equal(events[0].involvedObject!.name, 'web-0');
      const k8sOnly = (await eci.describeContainerGroupEvents(new $Eci.DescribeContainerGroupEventsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]), eventSource: 'K8sAgent' }))).body!;
      assert.deepEqual(k8sOnly.data![0].events, []);
    });

    it('updates with RenewUpdate and IncrementalUpdate', async () => {
      const { eci, key } = as('updater');
      const M = $Eci;
      const id = await create(eci, {
        containerGroupName: 'upd',
        container: [
          container({ name: 'a', command: ['run-a'], port: [new M.CreateContainerGroupRequestContainerPort({ port: 80 })], volumeMount: [new M.CreateContainerGroupRequestContainerVolumeMount({ name: 'v1', mountPath: '/v1' })] }),
          container({ name: 'b', image: 'busybox' }),
        ],
        volume: [new M.CreateContainerGroupRequestVolume({ name: 'v1', type: 'EmptyDirVolume' })],
        tag: [new M.CreateContainerGroupRequestTag({ key: 'env', value: 'dev' })],
      });
      const update = (fields: Record<string, unknown>) => eci.updateContainerGroup(new M.UpdateContainerGroupRequest({ regionId: REGION, containerGroupId: id, ...fields }));
      // Described before the update too: an answer rendered from an earlier version is not reused.
      assert.equal((await rawOne(key, id)).Generation, 1);

      await update({
        updateType: 'IncrementalUpdate',
        container: [
          new M.UpdateContainerGroupRequestContainer({ name: 'a', image: 'nginx:1.27' }),
          new M.UpdateContainerGroupRequestContainer({ name: 'c', image: 'redis:7' }),
        ],
        volume: [new M.UpdateContainerGroupRequestVolume({ name: 'v2', type: 'EmptyDirVolume' })],
        tag: [new M.UpdateContainerGroupRequestTag({ key: 'team', value: 'x' })],
        restartPolicy: 'Never',
      });
      let g = await rawOne(key, id);
      assert.equal(g.Status, 'Scheduling', 'no host runs it, so only the spec changes');
      assert.equal(g.Generation, 2);
      assert.deepEqual(g.Containers.map((c: any) => [c.Name, c.Image]), [['a', 'nginx:1.27'], ['b', 'busybox'], ['c', 'redis:7']]);
      assert.deepEqual(g.Containers[0].Commands, ['run-a'], 'IncrementalUpdate keeps the fields it is not given');
      assert.deepEqual(g.Containers[0].Ports, [{ Port: 80, Protocol: 'TCP' }]);
      assert.deepEqual(g.Volumes.map((v: any) => v.Name), ['v1', 'v2']);
      assert.deepEqual(g.Tags, [{ Key: 'env', Value: 'dev' }, { Key: 'team', Value: 'x' }]);
      assert.equal(g.RestartPolicy, 'Never');
      assert.deepEqual(g.Events.map((e: any) => e.Reason).slice(-1), ['SpecUpdated']);
      // The group uses its VPC's default security group, which opens the new container's port too.
      await update({ updateType: 'IncrementalUpdate', container: [new M.UpdateContainerGroupRequestContainer({ name: 'c', port: [new M.UpdateContainerGroupRequestContainerPort({ port: 6379 })] })] });
      const sg = (await as('updater').ecs.describeSecurityGroupAttribute(new $Ecs.DescribeSecurityGroupAttributeRequest({ regionId: REGION, securityGroupId: g.SecurityGroupId }))).body!;
      assert.deepEqual(sg.permissions!.permission!.map((r) => r.portRange).sort(), ['6379/6379', '80/80']);
      g = await rawOne(key, id);
      assert.equal(g.Containers[2].Image, 'redis:7', 'IncrementalUpdate of a container keeps its image');

      // RenewUpdate replaces what it is given: the containers, the tags.
      await update({ container: [new M.UpdateContainerGroupRequestContainer({ name: 'a', image: 'nginx:1.28' })], tag: [new M.UpdateContainerGroupRequestTag({ key: 'only', value: '1' })] });
      g = await rawOne(key, id);
      assert.equal(g.Generation, 4);
      assert.deepEqual(g.Containers.map((c: any) => c.Name), ['a']);
      assert.deepEqual(g.Containers[0].Commands, []);
      assert.deepEqual(g.Containers[0].VolumeMounts, []);
      assert.deepEqual(g.Tags, [{ Key: 'only', Value: '1' }]);
      assert.deepEqual(g.Volumes.map((v: any) => v.Name), ['v1', 'v2'], 'what RenewUpdate is not given stays');

      // The same rules as Create.
      let e = await rejection(() => update({ container: [new M.UpdateContainerGroupRequestContainer({ name: 'a', image: 'x', volumeMount: [new M.UpdateContainerGroupRequestContainerVolumeMount({ name: 'v9', mountPath: '/x' })] })] }));
      assert.equal(e.code, 'InvalidParameter');
      e = await rejection(() => update({ container: [new M.UpdateContainerGroupRequestContainer({ name: 'fresh' })] }));
      assert.equal(e.code, 'MissingParameter');
      e = await rejection(() => update({ updateType: 'IncrementalUpdate', container: [new M.UpdateContainerGroupRequestContainer({ name: 'a', cpu: 8 })], cpu: 4 }));
      assert.equal(e.code, 'InvalidParameter');
      e = await rejection(() => update({ updateType: 'Sideways' }));
      assert.equal(e.code, 'InvalidParameter');
      e = await rejection(() => update({ containerGroupId: 'eci-doesnotexist' }));
      assert.equal(e.code, 'InvalidContainerGroupId.NotFound');
      assert.equal((await rawOne(key, id)).Generation, 4, 'a refused update changes nothing');
      // An update that changes nothing leaves the generation alone.
      await update({ restartPolicy: 'Never' });
      assert.equal((await rawOne(key, id)).Generation, 4);
    });

    it('answers DescribeContainerGroups with exactly the JSON of the presented groups, rendered or not', async () => {
      const { eci, key } = as('renderer');
      const ids = [await create(eci, { containerGroupName: 'r1', tag: [new $Eci.CreateContainerGroupRequestTag({ key: 'k', value: 'v "quoted" \\ ✓' })] }), await create(eci, { containerGroupName: 'r2' })];
      const store = await openStore(server.storeUrl);
      try {
        for (let round = 0; round < 2; round++)
          for (const withEvent of [true, false]) {
            const params: Record<string, string> = { RegionId: REGION, ContainerGroupIds: JSON.stringify(ids) };
            if (!withEvent) params.WithEvent = 'false';
            const r = await send(server.endpoint, signV3(key, { action: 'DescribeContainerGroups', version: '2018-08-08', params, host: server.endpoint }));
            assert.equal(r.status, 200);
            const rows = await store.list<ContainerGroupData>({ kind: KIND.containerGroup, ids });
            const events = withEvent ? await latestEvents(store, ids) : undefined;
            const groups = rows.map((g) => presentContainerGroup(g, events?.get(g.id)?.map((e) => presentEvent(g.id, e))));
            assert.equal(r.text, JSON.stringify({ RequestId: r.json.RequestId, TotalCount: 2, NextToken: '', ContainerGroups: groups }), `round ${round}, WithEvent ${withEvent}`);
          }
      } finally {
        await store.close();
      }
    });

    it('makes Create idempotent with ClientToken and validates without writing under DryRun', async () => {
      const { eci } = as('tokens');
      const token = 'tok-123e4567-e89b';
      const first = await create(eci, { containerGroupName: 'idem', clientToken: token });
      const second = await create(eci, { containerGroupName: 'idem', clientToken: token });
      assert.equal(second, first);
      const mismatch = await rejection(() => create(eci, { containerGroupName: 'other', clientToken: token }));
      assert.equal(mismatch.code, 'IdempotentParameterMismatch');
      assert.equal((await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION }))).body!.totalCount, 1);

      const dry = as('dryrun');
      const e = await rejection(() => create(dry.eci, { containerGroupName: 'dry', dryRun: true, autoCreateEip: true }));
      assert.equal(e.code, 'DryRunOperation');
      assert.equal(e.statusCode, 400);
      const invalidDry = await rejection(() => create(dry.eci, { containerGroupName: 'Dry', dryRun: true }));
      assert.equal(invalidDry.code, 'InvalidParameter');
      assert.equal((await dry.eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION }))).body!.totalCount, 0);
      assert.equal((await dry.vpc.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION }))).body!.totalCount, 0, 'no default VPC was left behind');
      assert.equal((await dry.vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION }))).body!.totalCount, 0, 'no EIP was left behind');
    });

    it('deletes: the group, its events and its IP go; a second delete answers NotFound', async () => {
      const { eci } = as('deleter');
      const id = await create(eci, { containerGroupName: 'gone' });
      await del(eci, id);
      const listed = await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
      assert.equal(listed.body!.totalCount, 0);
      const e = await rejection(() => del(eci, id));
      assert.equal(e.code, 'InvalidContainerGroupId.NotFound');
      assert.equal(e.statusCode, 404);
      const ev = await eci.describeContainerGroupEvents(new $Eci.DescribeContainerGroupEventsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
      assert.equal(ev.body!.totalCount, 0);
      // The next group gets the freed lowest address.
      const next = await create(eci, { containerGroupName: 'next' });
      assert.equal((await describeOne(eci, next)).intranetIp, '172.16.0.2');
    });
  });
}

describe('ECI container group quota', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { quotas: { containerGroups: 2 } } });
  });
  after(() => server.close());

  it('refuses a create beyond config.quotas.containerGroups', async () => {
    const eci = new EciClient(server.sdkConfig(server.key('q')));
    const req = (name: string) => new $Eci.CreateContainerGroupRequest({ regionId: REGION, containerGroupName: name, container: [container()] });
    const a = (await eci.createContainerGroup(req('qa'))).body!.containerGroupId!;
    await eci.createContainerGroup(req('qb'));
    const e = await rejection(() => eci.createContainerGroup(req('qc')));
    assert.equal(e.code, 'QuotaExceeded.ContainerGroup');
    assert.equal(e.statusCode, 400);
    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: a }));
    assert.match((await eci.createContainerGroup(req('qc'))).body!.containerGroupId!, /^eci-/);
  });
});
