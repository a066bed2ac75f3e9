// Store-shaped fixtures for network tests: the rows deriveHostNetwork reads, with every field filled.
import type {
  ContainerGroupNetworkData,
  EipData,
  ForwardEntryData,
  NatGatewayData,
  SecurityGroupData,
  SecurityGroupRule,
  SnatEntryData,
  VSwitchData,
  VpcData,
} from '../../../src/core/model.ts';
import type { EipRow } from '../../../src/agent/net/topology.ts';

export function vpc(id: string, cidr: string, created = '2026-01-01T00:00:00Z'): VpcData {
  return { VpcId: id, VpcName: id, Description: '', CidrBlock: cidr, VRouterId: `vrt-${id}`, RouteTableId: `vtb-${id}`, IsDefault: false, ResourceGroupId: '', CreationTime: created, Tags: [] };
}

export function vsw(id: string, vpcId: string, cidr: string): VSwitchData {
  return { VSwitchId: id, VpcId: vpcId, ZoneId: 'cn-hangzhou-h', CidrBlock: cidr, VSwitchName: id, Description: '', IsDefault: false, CreationTime: '2026-01-01T00:00:00Z', Tags: [] };
}

export function group(id: string, vpcId: string, vSwitchId: string, ip: string, sgs: string[] = []): ContainerGroupNetworkData {
  return { ContainerGroupId: id, ContainerGroupName: id, VpcId: vpcId, VSwitchId: vSwitchId, SecurityGroupIds: sgs, IntranetIp: ip, InternetIp: '', EipAllocationId: '' };
}

export function eip(id: string, ip: string, status: string, instanceType = '', instanceId = ''): EipRow {
  const data: EipData = {
    AllocationId: id,
    IpAddress: ip,
    InstanceId: instanceId,
    InstanceType: instanceType,
    InstanceRegionId: instanceId ? 'cn-hangzhou' : '',
    PrivateIpAddress: '',
    VpcId: '',
    Bandwidth: 5,
    InternetChargeType: 'PayByTraffic',
    InstanceChargeType: 'PostPaid',
    ISP: 'BGP',
    Name: '',
    Description: '',
    BandwidthPackageId: '',
    BandwidthPackageBandwidth: '',
    PublicIpAddressPoolId: '',
    AllocationTime: '2026-01-01T00:00:00Z',
    Mode: 'NAT',
    AutoCreatedBy: '',
    Tags: [],
  };
  return { status, data };
}

export function nat(id: string, vpcId: string): NatGatewayData {
  return {
    NatGatewayId: id,
    VpcId: vpcId,
    VSwitchId: '',
    Name: id,
    Description: '',
    NatType: 'Enhanced',
    NetworkType: 'internet',
    EipBindMode: 'NAT',
    InternetChargeType: 'PayByLcu',
    InstanceChargeType: 'PostPaid',
    SnatTableId: `stb-${id}`,
    ForwardTableId: `ftb-${id}`,
    IcmpReplyEnabled: true,
    CreationTime: '2026-01-01T00:00:00Z',
    Tags: [],
  };
}

export function snat(id: string, natId: string, source: { cidr?: string; vSwitchId?: string }, ips: string[]): SnatEntryData {
  return { SnatEntryId: id, SnatTableId: `stb-${natId}`, NatGatewayId: natId, SnatIp: ips.join(','), SourceCIDR: source.cidr ?? '', SourceVSwitchId: source.vSwitchId ?? '', SnatEntryName: id, EipAffinity: 0 };
}

export function fwd(id: string, natId: string, externalIp: string, proto: string, externalPort: string, internalIp: string, internalPort: string): ForwardEntryData {
  return { ForwardEntryId: id, ForwardTableId: `ftb-${natId}`, NatGatewayId: natId, ExternalIp: externalIp, ExternalPort: externalPort, InternalIp: internalIp, InternalPort: internalPort, IpProtocol: proto, ForwardEntryName: id };
}

/** An ingress Accept rule for `proto` on `ports` (`80/80`) from `cidr`. */
export function allowIn(proto: 'TCP' | 'UDP', ports: string, cidr = '0.0.0.0/0', priority = 1): SecurityGroupRule {
  return {
    SecurityGroupRuleId: `sgr-${proto}${ports.replace('/', 'x')}${priority}`,
    Direction: 'ingress',
    IpProtocol: proto,
    PortRange: ports,
    SourcePortRange: '',
    SourceCidrIp: cidr,
    DestCidrIp: '',
    SourceGroupId: '',
    DestGroupId: '',
    Policy: 'Accept',
    Priority: priority,
    NicType: 'intranet',
    Description: '',
    CreateTime: '2026-01-01T00:00:00Z',
  };
}

export function sg(id: string, vpcId: string, rules: SecurityGroupRule[], type: 'normal' | 'enterprise' = 'normal'): SecurityGroupData {
  return { SecurityGroupId: id, SecurityGroupName: id, Description: '', VpcId: vpcId, SecurityGroupType: type, ResourceGroupId: '', CreationTime: '2026-01-01T00:00:00Z', Tags: [], Permissions: rules };
}
