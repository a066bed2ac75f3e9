import { defineAction } from '../../action.ts';
import { mergeByKey, updateTarget } from '../../../core/container-group.ts';
import { conflict, invalidParameter } from '../../../core/errors.ts';
import { KIND, type ContainerGroupData, type SecurityGroupData } from '../../../core/model.ts';
import { p, tagsParam } from '../../../core/params.ts';
import { normalizeTags } from '../../resources/common.ts';
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
  requireContainerGroup,
  sizeFor,
  unsupported,
  volumeParam,
} from '../../resources/container-group.ts';
import { defaultSecurityGroupId, openDeclaredPorts } from '../../resources/default-network.ts';

export const UpdateContainerGroup = defineAction({
  product: 'eci',
  name: 'UpdateContainerGroup',
  summary:
    'Changes a container group\'s spec: RenewUpdate replaces each list or struct given, IncrementalUpdate merges containers and volumes by Name and tags by Key.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ContainerGroupId: p.string({ required: true }),
    UpdateType: p.enum(['RenewUpdate', 'IncrementalUpdate']),
    Container: containerParam,
    InitContainer: initContainerParam,
    Volume: volumeParam,
    Cpu: p.float({ min: 0.01 }),
    Memory: p.float({ min: 0.01 }),
    RestartPolicy: p.enum(['Always', 'OnFailure', 'Never']),
    Tag: tagsParam,
    ImageRegistryCredential: registryCredentialParam,
    AcrRegistryInfo: acrRegistryInfoParam,
    DnsConfig: dnsConfigParam,
    ResourceGroupId: p.string({ max: 64 }),
    ClientToken: p.string({ max: 64 }),
  },
  async handler(ctx, params) {
    if (params.AcrRegistryInfo?.length) throw unsupported('AcrRegistryInfo', 'there is no Container Registry Enterprise Edition; use ImageRegistryCredential.');
    const group = await requireContainerGroup(ctx.tx, ctx.account, params.ContainerGroupId);
    const target = updateTarget(group.status);
    if (!target)
      throw conflict('IncorrectStatus', `The container group ${group.id} is ${group.status}; only a Scheduling, Pending or Running container group can be updated.`);
    const incremental = params.UpdateType === 'IncrementalUpdate';
    const d = group.data;

    const Containers = params.Container ? buildContainers(params.Container, 'Container', incremental ? d.Containers : undefined) : d.Containers;
    const InitContainers = params.InitContainer ? buildContainers(params.InitContainer, 'InitContainer', incremental ? d.InitContainers : undefined) : d.InitContainers;
    let Volumes = d.Volumes;
    if (params.Volume) {
      const given = params.Volume.map((v, i) => normalizeVolume(v, `Volume.${i + 1}`));
      Volumes = incremental ? mergeByKey(d.Volumes, given, (v) => v.Name) : given;
    }
    checkSpec({ Containers, InitContainers, Volumes });
    // A size the request does not give stays as stored; containers that outgrow it are refused, not a silent resize.
    const size = sizeFor({ Containers, InitContainers, Volumes }, { Cpu: params.Cpu ?? d.Cpu, Memory: params.Memory ?? d.Memory });

    let Tags = d.Tags;
    if (params.Tag) {
      const given = normalizeTags(params.Tag);
      Tags = incremental ? mergeByKey(d.Tags, given, (t) => t.Key) : given;
      if (Tags.length > 20) throw invalidParameter('Tag', 'A container group carries at most 20 tags.');
    }
    let ImageRegistryCredentials = d.ImageRegistryCredentials;
    if (params.ImageRegistryCredential) {
      const given = normalizeRegistryCredentials(params.ImageRegistryCredential);
      ImageRegistryCredentials = incremental ? mergeByKey(d.ImageRegistryCredentials, given, (c) => c.Server) : given;
    }
    const DnsConfig = params.DnsConfig ? normalizeDnsConfig(params.DnsConfig, incremental ? d.DnsConfig : EMPTY_DNS_CONFIG) : d.DnsConfig;
    if (d.DnsPolicy === 'None' && DnsConfig.NameServers.length === 0)
      throw invalidParameter('DnsConfig.NameServer.1', 'DnsPolicy None needs at least one DnsConfig.NameServer.');

    const next: ContainerGroupData = {
      ...d,
      Containers,
      InitContainers,
      Volumes,
      Cpu: size.Cpu,
      Memory: size.Memory,
      RestartPolicy: params.RestartPolicy ?? d.RestartPolicy,
      Tags,
      ImageRegistryCredentials,
      DnsConfig,
      ResourceGroupId: params.ResourceGroupId ?? d.ResourceGroupId,
    };
    if (JSON.stringify(next) === JSON.stringify(d)) return {};
    // A group on its VPC's default security group gets its new ports opened there, as at creation.
    if (d.SecurityGroupIds.length === 1 && d.SecurityGroupIds[0] === defaultSecurityGroupId(ctx.account, d.VpcId)) {
      const sg = await ctx.tx.get<SecurityGroupData>(KIND.securityGroup, d.SecurityGroupIds[0]);
      if (sg) await openDeclaredPorts(ctx, sg, Containers.flatMap((c) => c.Ports));
    }
    next.Generation = d.Generation + 1;
    if (target !== group.status) next.StatusTime = ctx.nowText;
    group.data = next;
    group.status = target;
    await ctx.tx.update(group);
    await ctx.tx.addEvent(
      ctx.account,
      { resourceId: group.id, type: 'Normal', reason: 'SpecUpdated', message: `Spec updated to generation ${next.Generation} (${incremental ? 'IncrementalUpdate' : 'RenewUpdate'}).` },
      ctx.nowText,
    );
    return {};
  },
});
