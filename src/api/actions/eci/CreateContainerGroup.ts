import { defineAction } from '../../action.ts';
import { contains, formatIp, parseCidr, vSwitchUsableRange } from '../../../core/cidr.ts';
import { GROUP_NAME_HINT, GROUP_NAME_PATTERN, isAbsolutePath, isHostname, isIpv4, isNamespacedSysctl, parseSizeSpec } from '../../../core/container-group.ts';
import { conflict, invalid, invalidParameter, notFound } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { KIND, type ContainerGroupData, type EipData, type SecurityGroupData, type VSwitchData } from '../../../core/model.ts';
import { p, tagsParam, type InferFields } from '../../../core/params.ts';
import type { NewResourceEvent, Resource } from '../../../store/store.ts';
import type { ActionContext } from '../../action.ts';
import { addToPackage, requireBandwidthPackage } from '../../resources/bandwidth-package.ts';
import { checkCap, normalizeTags, quotaCap, requireOwned } from '../../resources/common.ts';
import {
  acrRegistryInfoParam,
  buildContainers,
  checkSpec,
  containerParam,
  dnsConfigParam,
  EMPTY_DNS_CONFIG,
  initContainerParam,
  normalizeDnsConfig,
  normalizeRegistryCredentials,
  normalizeVolume,
  registryCredentialParam,
  sizeFor,
  unsupported,
  volumeParam,
} from '../../resources/container-group.ts';
import { ensureDefaultNetwork, ensureDefaultSecurityGroup, openDeclaredPorts } from '../../resources/default-network.ts';
import { chooseImageCache } from '../../resources/image-cache.ts';
import { allocateEip, beginAssociation, checkEipBandwidth, DEFAULT_EIP_BANDWIDTH, requireEip } from '../../resources/eip.ts';
import { requireIp, requireVpc, requireVSwitchIn } from '../../resources/vpc.ts';

const hostnames = p.list(p.string({ max: 253 }), { max: 16 });
const hostAliasParam = p.struct({ Ip: p.string({ required: true }), Hostname: hostnames });
const hostAliasesParam = p.list(hostAliasParam, { max: 32 });
const ntpServersParam = p.list(p.string({ max: 253 }), { max: 5 });
const sysctlParam = p.struct({ Name: p.string({ required: true, max: 256 }), Value: p.string({ max: 4096 }) });
const sysctlsParam = p.list(sysctlParam, { max: 32 });
const groupSecurityContextParam = p.struct({ Sysctl: sysctlsParam });
const overheadParam = p.struct({ EnableOverheadReservation: p.bool() });
const computeCategoryParam = p.list(p.string(), { max: 5 });
const REGISTRY = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;

const params = {
  RegionId: p.string({ required: true }),
  ZoneId: p.string(),
  ContainerGroupName: p.string({ required: true, pattern: GROUP_NAME_PATTERN, hint: GROUP_NAME_HINT }),
  Container: containerParam,
  InitContainer: initContainerParam,
  Volume: volumeParam,
  Cpu: p.float({ min: 0.01 }),
  Memory: p.float({ min: 0.01 }),
  InstanceType: p.csv({ max: 5 }),
  RestartPolicy: p.enum(['Always', 'OnFailure', 'Never']),
  Tag: tagsParam,
  ClientToken: p.string({ max: 64 }),
  DryRun: p.bool(),
  VSwitchId: p.csv({ max: 10 }),
  ScheduleStrategy: p.enum(['VSwitchOrdered', 'VSwitchRandom']),
  SecurityGroupId: p.csv({ max: 5 }),
  PrivateIpAddress: p.string(),
  AutoCreateEip: p.bool(),
  EipBandwidth: p.int(),
  EipISP: p.enum(['BGP', 'BGP_PRO']),
  EipCommonBandwidthPackage: p.string(),
  EipInstanceId: p.string(),
  ImageRegistryCredential: registryCredentialParam,
  AcrRegistryInfo: acrRegistryInfoParam,
  PlainHttpRegistry: p.csv({ max: 20 }),
  InsecureRegistry: p.csv({ max: 20 }),
  AutoMatchImageCache: p.bool(),
  ImageSnapshotId: p.string({ max: 64 }),
  ImageAccelerateMode: p.string(),
  DnsPolicy: p.enum(['None', 'Default']),
  DnsConfig: dnsConfigParam,
  HostAliase: hostAliasesParam,
  HostName: p.string({ max: 64 }),
  NtpServer: ntpServersParam,
  SecurityContext: groupSecurityContextParam,
  HostSecurityContext: groupSecurityContextParam,
  TerminationGracePeriodSeconds: p.int({ min: 0, max: 86_400 }),
  ActiveDeadlineSeconds: p.int({ min: 1, max: 2_147_483_647 }),
  ShareProcessNamespace: p.bool(),
  EphemeralStorage: p.int({ min: 0, max: 2048 }),
  CorePattern: p.string({ max: 4096 }),
  IngressBandwidth: p.int({ min: 0 }),
  EgressBandwidth: p.int({ min: 0 }),
  MaxPendingMinute: p.int({ min: 10, max: 1440 }),
  ResourceGroupId: p.string({ max: 64 }),
  OverheadReservationOption: overheadParam,
  // Parsed to be refused when they ask for something OpenECI cannot do (see REFUSALS).
  OsType: p.enum(['Linux', 'Windows'], { caseInsensitive: true }),
  CpuArchitecture: p.enum(['AMD64', 'ARM64'], { caseInsensitive: true }),
  SpotStrategy: p.enum(['NoSpot', 'SpotAsPriceGo', 'SpotWithPriceLimit']),
  SpotPriceLimit: p.float(),
  SpotDuration: p.int(),
  StrictSpot: p.bool(),
  Ipv6AddressCount: p.int({ min: 0 }),
  Ipv6GatewayBandwidthEnable: p.bool(),
  Ipv6GatewayBandwidth: p.string(),
  FixedIp: p.string(),
  FixedIpRetainHour: p.int(),
  RamRoleName: p.string(),
  CpuOptionsCore: p.int(),
  CpuOptionsThreadsPerCore: p.int(),
  CpuOptionsNuma: p.string(),
  ContainerResourceView: p.bool(),
  GpuDriverVersion: p.string(),
  ComputeCategory: computeCategoryParam,
  DataCacheBucket: p.string(),
  DataCachePL: p.string(),
  DataCacheProvisionedIops: p.int(),
  DataCacheBurstingEnabled: p.bool(),
};

type CreateParams = InferFields<typeof params>;

export const CreateContainerGroup = defineAction({
  product: 'eci',
  name: 'CreateContainerGroup',
  summary: 'Creates a container group (an instance): records its spec, gives it a private IP (and an EIP if asked); it stays Scheduling until a host runs it.',
  mutating: true,
  params,
  // A group naming its vSwitches and security groups, with no EIP and no image cache, writes no
  // existing row: only its own (the quota capped at the insert), its address (IPAM) and its events.
  // Such creates of one account run side by side; everything else takes the account lock alone.
  sharedAccountLock: (q) =>
    !!q.VSwitchId?.length && !!q.SecurityGroupId?.length && !q.AutoCreateEip && !q.EipInstanceId && !q.ImageSnapshotId && !q.AutoMatchImageCache,
  async handler(ctx, params) {
    for (const [name, asked, why] of refusals(params)) if (asked) throw unsupported(name, why);
    const region = ctx.config.regions.find((r) => r.regionId === params.RegionId)!;
    if (params.ZoneId && !region.zones.includes(params.ZoneId))
      throw notFound('InvalidZoneId.NotFound', `The specified ZoneId "${params.ZoneId}" does not exist in ${params.RegionId}.`);

    // The spec, validated before anything is allocated.
    const Containers = buildContainers(params.Container ?? [], 'Container', undefined);
    const InitContainers = buildContainers(params.InitContainer ?? [], 'InitContainer', undefined);
    const Volumes = (params.Volume ?? []).map((v, i) => normalizeVolume(v, `Volume.${i + 1}`));
    checkSpec({ Containers, InitContainers, Volumes });
    const spec = instanceTypeSize(params.InstanceType, params.Cpu, params.Memory);
    const size = sizeFor({ Containers, InitContainers, Volumes }, spec.size);
    const dns = normalizeDnsConfig(params.DnsConfig, EMPTY_DNS_CONFIG);
    if (params.DnsPolicy === 'None' && dns.NameServers.length === 0)
      throw invalidParameter('DnsConfig.NameServer.1', 'DnsPolicy None needs at least one DnsConfig.NameServer.');
    const tags = normalizeTags(params.Tag);
    checkScalars(params);
    // The quota and the network's lookups are issued together (one round trip on PostgreSQL) and
    // judged in this order; whatever the network wrote is rolled back with a refused quota.
    const cap = quotaCap(ctx.config.quotas.containerGroups, 'QuotaExceeded.ContainerGroup', 'container groups');
    const quota = checkCap(ctx.tx, { kind: KIND.containerGroup, account: ctx.account, region: params.RegionId }, cap);

    // Network: the vSwitch(es), the security groups, then the private address.
    const id = newId('containerGroup', ctx.random);
    const resolving = resolveNetwork(ctx, params);
    const early = allocateEarly(ctx, id, params);
    await Promise.allSettled([quota, resolving]);
    await quota;
    const net = await resolving;
    const { vSwitch, ip } = await assignPrivateIp(ctx, id, net.vSwitches, params.PrivateIpAddress, early);
    if (net.defaultSecurityGroup)
      await openDeclaredPorts(ctx, net.defaultSecurityGroup, Containers.flatMap((c) => c.Ports));

    const eipId = await bindEip(ctx, params, id, vSwitch.data.VpcId, ip);
    // ImageSnapshotId / AutoMatchImageCache: the cache the group starts from (its zone is the vSwitch's).
    const imageCache = await chooseImageCache(ctx, params, [...Containers, ...InitContainers], vSwitch.data.ZoneId);

    const data: ContainerGroupData = {
      ContainerGroupId: id,
      ContainerGroupName: params.ContainerGroupName,
      RegionId: params.RegionId,
      ZoneId: vSwitch.data.ZoneId,
      VpcId: vSwitch.data.VpcId,
      VSwitchId: vSwitch.id,
      VSwitchIds: net.vSwitchIds,
      ScheduleStrategy: params.ScheduleStrategy ?? 'VSwitchOrdered',
      SecurityGroupIds: net.securityGroupIds,
      EniInstanceId: newId('eni', ctx.random),
      IntranetIp: ip,
      InternetIp: '',
      EipAllocationId: eipId,
      Cpu: size.Cpu,
      Memory: size.Memory,
      InstanceType: spec.instanceType,
      RestartPolicy: params.RestartPolicy ?? 'Always',
      Containers,
      InitContainers,
      Volumes,
      DnsPolicy: params.DnsPolicy ?? '',
      DnsConfig: dns,
      HostAliases: (params.HostAliase ?? []).map((h) => ({ Ip: h.Ip, Hostnames: h.Hostname ?? [] })),
      HostName: params.HostName ?? '',
      NtpServers: params.NtpServer ?? [],
      Sysctls: (params.SecurityContext?.Sysctl ?? []).map((s) => ({ Name: s.Name, Value: s.Value ?? '' })),
      TerminationGracePeriodSeconds: params.TerminationGracePeriodSeconds ?? 30,
      ActiveDeadlineSeconds: params.ActiveDeadlineSeconds ?? 0,
      ShareProcessNamespace: params.ShareProcessNamespace ?? false,
      EphemeralStorage: params.EphemeralStorage ?? 0,
      CorePattern: params.CorePattern ?? '',
      IngressBandwidth: params.IngressBandwidth ?? 0,
      EgressBandwidth: params.EgressBandwidth ?? 0,
      MaxPendingMinute: params.MaxPendingMinute ?? 240,
      ImageRegistryCredentials: normalizeRegistryCredentials(params.ImageRegistryCredential ?? []),
      PlainHttpRegistries: params.PlainHttpRegistry ?? [],
      InsecureRegistries: params.InsecureRegistry ?? [],
      AutoMatchImageCache: params.AutoMatchImageCache ?? false,
      ImageSnapshotId: params.ImageSnapshotId ?? '',
      OverheadReservation: params.OverheadReservationOption?.EnableOverheadReservation ?? false,
      AutoCreateEip: params.AutoCreateEip ?? false,
      EipBandwidth: params.AutoCreateEip ? (params.EipBandwidth ?? DEFAULT_EIP_BANDWIDTH) : 0,
      EipISP: params.AutoCreateEip ? (params.EipISP ?? 'BGP') : '',
      EipCommonBandwidthPackage: params.EipCommonBandwidthPackage ?? '',
      ResourceGroupId: params.ResourceGroupId ?? '',
      Tags: tags,
      CreationTime: ctx.nowText,
      StatusTime: ctx.nowText,
      SucceededTime: '',
      FailedTime: '',
      Generation: 1,
      ImageCacheId: imageCache.cache?.id ?? '',
    };
    // Events for what happened here; progress beyond this is the agent's to report.
    const events: NewResourceEvent[] = [{ type: 'Normal', reason: 'SuccessfulAssignIp', message: `Assigned private IP ${ip} in vSwitch ${vSwitch.id} (${vSwitch.data.ZoneId}).` }];
    if (eipId) events.push({ type: 'Normal', reason: 'AssociatingEip', message: `Binding EIP ${eipId}${params.AutoCreateEip ? ', created for this container group,' : ''}; it is bound once the container group runs on a host.` });
    if (imageCache.event) events.push(imageCache.event);
    events.push({ type: 'Normal', reason: 'Scheduling', message: 'Accepted; waiting for a host to run the container group.' });
    // The cap re-checks the quota exactly, for creates that share the account lock. Nothing needs the
    // stored row back: put lets it (and its events, in the same statement) travel with the commit.
    await ctx.tx.put({ kind: KIND.containerGroup, id, account: ctx.account, region: params.RegionId, name: data.ContainerGroupName, status: 'Scheduling', parent: vSwitch.id, createdAt: ctx.nowText, data }, cap, events);
    return { ContainerGroupId: id };
  },
});

/** [parameter, whether the request asks for it, why OpenECI cannot honour it]. */
function refusals(q: CreateParams): [string, boolean, string][] {
  return [
    ['OsType', q.OsType === 'Windows', 'the hosts run Linux containers only.'],
    ['CpuArchitecture', q.CpuArchitecture === 'ARM64', 'the hosts are AMD64.'],
    ['SpotStrategy', q.SpotStrategy !== undefined && q.SpotStrategy !== 'NoSpot', 'there is no spot market; instances run until deleted (use NoSpot).'],
    ['SpotPriceLimit', q.SpotPriceLimit !== undefined, 'there is no spot market.'],
    ['SpotDuration', q.SpotDuration !== undefined, 'there is no spot market.'],
    ['StrictSpot', q.StrictSpot === true, 'there is no spot market.'],
    ['AcrRegistryInfo', (q.AcrRegistryInfo?.length ?? 0) > 0, 'there is no Container Registry Enterprise Edition; use ImageRegistryCredential.'],
    ['ImageAccelerateMode', !!q.ImageAccelerateMode, 'images are pulled whole; there is no lazy-loading (nydus, dadi, p2p, imc).'],
    ['Ipv6AddressCount', (q.Ipv6AddressCount ?? 0) > 0, 'vSwitches are IPv4 only.'],
    ['Ipv6GatewayBandwidthEnable', q.Ipv6GatewayBandwidthEnable === true, 'vSwitches are IPv4 only.'],
    ['Ipv6GatewayBandwidth', !!q.Ipv6GatewayBandwidth, 'vSwitches are IPv4 only.'],
    ['FixedIp', !!q.FixedIp && q.FixedIp.toLowerCase() !== 'false', 'a private IP is released with its container group; name it again with PrivateIpAddress.'],
    ['FixedIpRetainHour', q.FixedIpRetainHour !== undefined, 'a private IP is released with its container group.'],
    ['RamRoleName', !!q.RamRoleName, 'there is no RAM and no instance metadata service.'],
    ['CpuOptionsCore', q.CpuOptionsCore !== undefined, 'CPU topology options apply to ECS instance types, which OpenECI does not have.'],
    ['CpuOptionsThreadsPerCore', q.CpuOptionsThreadsPerCore !== undefined, 'CPU topology options apply to ECS instance types, which OpenECI does not have.'],
    ['CpuOptionsNuma', !!q.CpuOptionsNuma, 'CPU topology options apply to ECS instance types, which OpenECI does not have.'],
    ['ContainerResourceView', q.ContainerResourceView === true, 'containers see the host\'s /proc (no LXCFS view).'],
    ['GpuDriverVersion', !!q.GpuDriverVersion, 'the hosts have no GPUs.'],
    ['ComputeCategory', (q.ComputeCategory ?? []).some((c) => c !== 'general'), 'every instance is of the general category.'],
    ['DataCacheBucket', !!q.DataCacheBucket, 'there are no data caches.'],
    ['DataCachePL', !!q.DataCachePL, 'there are no data caches.'],
    ['DataCacheProvisionedIops', q.DataCacheProvisionedIops !== undefined, 'there are no data caches.'],
    ['DataCacheBurstingEnabled', q.DataCacheBurstingEnabled === true, 'there are no data caches.'],
    ['HostSecurityContext.Sysctl', (q.HostSecurityContext?.Sysctl?.length ?? 0) > 0, 'host sysctls would change the shared host; use SecurityContext.Sysctl for namespaced ones.'],
  ];
}

/**
 * Size from InstanceType: only `<vCPU>-<memory>Gi` specs exist here (there are no ECS instance families),
 * so the first one is as available as any and is used.
 */
function instanceTypeSize(types: string[] | undefined, cpu: number | undefined, memory: number | undefined) {
  if (!types?.length) return { size: { Cpu: cpu, Memory: memory }, instanceType: '' };
  const specs = types.map((t) => {
    const s = parseSizeSpec(t);
    if (!s) throw unsupported('InstanceType', `"${t}" is an ECS instance type, and OpenECI has none; give Cpu and Memory or a "<vCPU>-<memory>Gi" spec such as 2-4Gi.`);
    return s;
  });
  const first = specs[0];
  if ((cpu !== undefined && cpu !== first.Cpu) || (memory !== undefined && memory !== first.Memory))
    throw invalidParameter('InstanceType', `The spec ${types[0]} contradicts Cpu/Memory.`);
  return { size: first, instanceType: types[0] };
}

/** Group-level values that need more than a range check. */
function checkScalars(q: CreateParams): void {
  (q.HostAliase ?? []).forEach((h, i) => {
    if (!isIpv4(h.Ip)) throw invalidParameter(`HostAliase.${i + 1}.Ip`, 'Use an IPv4 address.');
    if (!h.Hostname?.length) throw invalidParameter(`HostAliase.${i + 1}.Hostname.1`, 'Give at least one host name.');
    h.Hostname.forEach((n, j) => {
      if (!isHostname(n)) throw invalidParameter(`HostAliase.${i + 1}.Hostname.${j + 1}`, 'Use a DNS name.');
    });
  });
  if (q.HostName !== undefined && q.HostName !== '' && !isHostname(q.HostName)) throw invalidParameter('HostName', 'Use a DNS name.');
  (q.NtpServer ?? []).forEach((s, i) => {
    if (!isIpv4(s) && !isHostname(s)) throw invalidParameter(`NtpServer.${i + 1}`, 'Use an IPv4 address or a host name.');
  });
  const sysctls = new Set<string>();
  (q.SecurityContext?.Sysctl ?? []).forEach((s, i) => {
    if (!isNamespacedSysctl(s.Name))
      throw invalidParameter(`SecurityContext.Sysctl.${i + 1}.Name`, `"${s.Name}" is not a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*).`);
    if (sysctls.has(s.Name)) throw invalidParameter(`SecurityContext.Sysctl.${i + 1}.Name`, `"${s.Name}" is given twice.`);
    sysctls.add(s.Name);
  });
  if (q.CorePattern && !isAbsolutePath(q.CorePattern)) throw invalidParameter('CorePattern', 'Use an absolute directory path.');
  for (const name of ['PlainHttpRegistry', 'InsecureRegistry'] as const)
    (q[name] ?? []).forEach((r) => {
      if (!REGISTRY.test(r)) throw invalidParameter(name, `"${r}" is not a registry host[:port].`);
    });
  if (!q.AutoCreateEip)
    for (const name of ['EipBandwidth', 'EipISP', 'EipCommonBandwidthPackage'] as const)
      if (q[name] !== undefined && q[name] !== '') throw invalidParameter(name, `${name} applies only with AutoCreateEip=true.`);
  if (q.AutoCreateEip && q.EipInstanceId) throw invalidParameter('EipInstanceId', 'Give either AutoCreateEip or EipInstanceId, not both.');
}

interface ResolvedNetwork {
  /** Candidate vSwitches in the order to try. */
  vSwitches: Resource<VSwitchData>[];
  vSwitchIds: string[];
  securityGroupIds: string[];
  /** Set when the group uses its VPC's default security group (whose rules it may extend). */
  defaultSecurityGroup?: Resource<SecurityGroupData>;
}

async function resolveNetwork(ctx: ActionContext, q: CreateParams): Promise<ResolvedNetwork> {
  const region = ctx.config.regions.find((r) => r.regionId === q.RegionId)!;
  let vSwitches: Resource<VSwitchData>[];
  let vSwitchIds: string[];
  let defaultSecurityGroup: Resource<SecurityGroupData> | undefined;
  const lookupSecurityGroup = (sgId: string) =>
    requireOwned<SecurityGroupData>(ctx.tx, KIND.securityGroup, ctx.account, sgId, 'InvalidSecurityGroupId.NotFound', 'SecurityGroupId');
  const sgIds = [...new Set(q.SecurityGroupId ?? [])];
  let sgLookups: Promise<Resource<SecurityGroupData>>[] | undefined;
  if (q.VSwitchId?.length) {
    vSwitchIds = [...new Set(q.VSwitchId)];
    vSwitches = [];
    // Every lookup at once (one round trip on PostgreSQL); their verdicts are taken in order below.
    const vSwitchLookups = vSwitchIds.map((vswId) => requireVSwitchIn(ctx.tx, ctx.account, q.RegionId, vswId));
    sgLookups = sgIds.map(lookupSecurityGroup);
    await Promise.allSettled([...vSwitchLookups, ...sgLookups]);
    for (const lookup of vSwitchLookups) {
      const v = await lookup;
      if (v.data.VpcId !== (vSwitches[0]?.data.VpcId ?? v.data.VpcId))
        throw invalid('InvalidVSwitchId.VpcMismatch', `The vSwitches ${vSwitches[0].id} and ${v.id} are in different VPCs; a container group's vSwitches share one VPC.`);
      vSwitches.push(v);
    }
    if (q.ZoneId) {
      vSwitches = vSwitches.filter((v) => v.data.ZoneId === q.ZoneId);
      if (!vSwitches.length) throw invalidParameter('ZoneId', `None of the vSwitches is in zone ${q.ZoneId}.`);
      // Placement walks VSwitchIds: keep only the requested zone's, so the group never lands elsewhere.
      vSwitchIds = vSwitchIds.filter((id) => vSwitches.some((v) => v.id === id));
    }
    if (q.ScheduleStrategy === 'VSwitchRandom') vSwitches = shuffle(vSwitches, ctx.random(vSwitches.length));
    if (!q.SecurityGroupId?.length) defaultSecurityGroup = await ensureDefaultSecurityGroup(ctx, await requireVpc(ctx.tx, ctx.account, vSwitches[0].data.VpcId));
  } else {
    const net = await ensureDefaultNetwork(ctx, q.RegionId, q.ZoneId || region.zones[0]);
    vSwitches = [net.vSwitch];
    vSwitchIds = [net.vSwitch.id];
    defaultSecurityGroup = net.securityGroup;
  }
  if (!q.SecurityGroupId?.length) return { vSwitches, vSwitchIds, securityGroupIds: [defaultSecurityGroup!.id], defaultSecurityGroup };
  const vpcId = vSwitches[0].data.VpcId;
  const ids = sgIds;
  let type = '';
  for (const [i, sgId] of ids.entries()) {
    const sg = await (sgLookups?.[i] ?? lookupSecurityGroup(sgId));
    if (sg.region !== q.RegionId) throw notFound('InvalidSecurityGroupId.NotFound', `The specified SecurityGroupId "${sgId}" does not exist in ${q.RegionId}.`);
    if (sg.data.VpcId !== vpcId)
      throw invalid('InvalidSecurityGroup.VpcMismatch', `The security group ${sgId} is in ${sg.data.VpcId}, not in the vSwitch's VPC ${vpcId}.`);
    if (type && sg.data.SecurityGroupType !== type)
      throw invalid('InvalidSecurityGroup.TypeMismatch', 'The security groups of a container group must all be normal or all be enterprise groups.');
    type = sg.data.SecurityGroupType;
  }
  return { vSwitches, vSwitchIds, securityGroupIds: ids };
}

function shuffle<T>(items: T[], bytes: Uint8Array): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = bytes[i] % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * The CIDR of vSwitches this process has read (a vSwitch's CIDR never changes, and ids are never
 * reused), for allocateEarly. Bounded: cleared when full.
 */
const vSwitchCidrs = new Map<string, string>();
const VSWITCH_CIDRS_MAX = 10_000;

interface EarlyAllocation {
  readonly vSwitchId: string;
  readonly cidr: string;
  readonly ip: Promise<number | undefined>;
}

/**
 * A group naming one vSwitch, whose CIDR is known, without a PrivateIpAddress: its address is asked
 * for with the request's first statements, before the vSwitch is looked up (on PostgreSQL that
 * saves the create a round trip). It counts only once assignPrivateIp has judged the vSwitch; a
 * request refused before that rolls the allocation back with the rest of its transaction.
 */
function allocateEarly(ctx: ActionContext, owner: string, q: CreateParams): EarlyAllocation | undefined {
  if (q.PrivateIpAddress || !q.VSwitchId?.length || new Set(q.VSwitchId).size !== 1) return undefined;
  const vSwitchId = q.VSwitchId[0];
  const cidr = vSwitchCidrs.get(vSwitchId);
  if (!cidr) return undefined;
  const ip = ctx.tx.allocateIp(vSwitchId, [vSwitchUsableRange(parseCidr(cidr)!)], owner);
  ip.catch(() => undefined);
  return { vSwitchId, cidr, ip };
}

/**
 * The group's private address: `wanted` where it lies in a candidate vSwitch (and is free), else the
 * lowest free address of the first candidate with one. IPAM scope = vSwitch, so never handed out twice.
 */
async function assignPrivateIp(ctx: ActionContext, owner: string, candidates: Resource<VSwitchData>[], wanted: string | undefined, early?: EarlyAllocation) {
  for (const v of candidates) {
    if (vSwitchCidrs.size >= VSWITCH_CIDRS_MAX) vSwitchCidrs.clear();
    vSwitchCidrs.set(v.id, v.data.CidrBlock);
  }
  if (early) {
    const [vSwitch] = candidates;
    const ip = await early.ip;
    if (candidates.length === 1 && vSwitch.id === early.vSwitchId && vSwitch.data.CidrBlock === early.cidr) {
      if (ip === undefined) throw conflict('InvalidVSwitchId.IpNotEnough', `The vSwitch(es) ${vSwitch.id} have no free private IP address.`);
      return { vSwitch, ip: formatIp(ip) };
    }
    // Not the address this request gets after all (cannot happen while CIDRs never change).
    if (ip !== undefined) await ctx.tx.releaseIp(early.vSwitchId, ip);
  }
  if (wanted) {
    const ip = requireIp(wanted, 'InvalidPrivateIpAddress.Malformed', 'PrivateIpAddress');
    const vSwitch = candidates.find((v) => contains(parseCidr(v.data.CidrBlock)!, ip));
    if (!vSwitch)
      throw invalid('InvalidPrivateIpAddress.MismatchVSwitch', `The address ${wanted} is not in the vSwitch CIDR (${candidates.map((v) => `${v.id} ${v.data.CidrBlock}`).join(', ')}).`);
    const range = vSwitchUsableRange(parseCidr(vSwitch.data.CidrBlock)!);
    if (ip < range.first || ip > range.last)
      throw invalid('InvalidPrivateIpAddress.Reserved', `The address ${wanted} is reserved in ${vSwitch.data.CidrBlock} (network, gateway and the last three addresses).`);
    if ((await ctx.tx.allocateIp(vSwitch.id, [range], owner, ip)) === undefined)
      throw conflict('InvalidPrivateIpAddress.Duplicated', `The address ${wanted} is already in use in vSwitch ${vSwitch.id}.`);
    return { vSwitch, ip: wanted };
  }
  for (const vSwitch of candidates) {
    const ip = await ctx.tx.allocateIp(vSwitch.id, [vSwitchUsableRange(parseCidr(vSwitch.data.CidrBlock)!)], owner);
    if (ip !== undefined) return { vSwitch, ip: formatIp(ip) };
  }
  throw conflict('InvalidVSwitchId.IpNotEnough', `The vSwitch(es) ${candidates.map((v) => v.id).join(', ')} have no free private IP address.`);
}

/** AutoCreateEip (allocate, join the bandwidth package, start binding) or EipInstanceId (start binding). */
async function bindEip(ctx: ActionContext, q: CreateParams, groupId: string, vpcId: string, privateIp: string): Promise<string> {
  const target = { instanceId: groupId, instanceType: 'EciInstance' as const, privateIp, vpcId, regionId: q.RegionId };
  if (q.AutoCreateEip) {
    const bandwidth = q.EipBandwidth === undefined ? DEFAULT_EIP_BANDWIDTH : checkEipBandwidth(q.EipBandwidth, 'PayByTraffic', 'EipBandwidth');
    const pkg = q.EipCommonBandwidthPackage ? await requireBandwidthPackage(ctx.tx, ctx.account, q.RegionId, q.EipCommonBandwidthPackage) : undefined;
    let eip = await allocateEip(ctx, {
      regionId: q.RegionId,
      bandwidth,
      // An EIP created with an instance is pay-by-traffic, as the reference's are.
      internetChargeType: 'PayByTraffic',
      isp: q.EipISP ?? pkg?.data.ISP ?? 'BGP',
      description: `Created with container group ${groupId} (AutoCreateEip); released with it.`,
      autoCreatedBy: groupId,
    });
    if (pkg) {
      // The package's own rules (same ISP…), as AddCommonBandwidthPackageIp applies them.
      await addToPackage(ctx.tx, pkg, eip);
      eip = (await ctx.tx.get<EipData>(KIND.eip, eip.id))!;
    }
    await beginAssociation(ctx.tx, eip, target);
    return eip.id;
  }
  if (q.EipInstanceId) {
    const eip = await requireEip(ctx.tx, ctx.account, q.EipInstanceId);
    if (eip.region !== q.RegionId) throw invalid('InvalidParameter.Mismatch', `The EIP ${eip.id} is in ${eip.region}, not in ${q.RegionId}.`);
    await beginAssociation(ctx.tx, eip, target);
    return eip.id;
  }
  return '';
}
