// The persisted shape of each resource kind: the `data` of a store row. Field names follow the
// reference's response names, so Describe* handlers present them with little mapping. Kinds are
// the `kind` column of the store.

export const KIND = {
  vpc: 'Vpc',
  vSwitch: 'VSwitch',
  securityGroup: 'SecurityGroup',
  eip: 'Eip',
  natGateway: 'NatGateway',
  snatEntry: 'SnatEntry',
  forwardEntry: 'ForwardEntry',
  bandwidthPackage: 'CommonBandwidthPackage',
  ipPool: 'PublicIpAddressPool',
  containerGroup: 'ContainerGroup',
} as const;

/** The account that owns system resources every account may use (the default public IP pool). */
export const SYSTEM_ACCOUNT = '*system*';

/** IPAM scope of every public address: EIPs are unique on the whole installation, whatever their pool. */
export const PUBLIC_IP_SCOPE = 'public';

export interface Tag {
  Key: string;
  Value: string;
}

export interface VpcData {
  VpcId: string;
  VpcName: string;
  Description: string;
  CidrBlock: string;
  VRouterId: string;
  RouteTableId: string;
  IsDefault: boolean;
  ResourceGroupId: string;
  CreationTime: string;
  Tags: Tag[];
}

export interface VSwitchData {
  VSwitchId: string;
  VpcId: string;
  ZoneId: string;
  CidrBlock: string;
  VSwitchName: string;
  Description: string;
  IsDefault: boolean;
  CreationTime: string;
  Tags: Tag[];
}

export type SgDirection = 'ingress' | 'egress';

export interface SecurityGroupRule {
  SecurityGroupRuleId: string;
  Direction: SgDirection;
  /** Upper case: TCP, UDP, ICMP, GRE, ALL. */
  IpProtocol: string;
  /** `from/to`; `-1/-1` for protocols without ports. */
  PortRange: string;
  SourcePortRange: string;
  /** Peer CIDR: the source for ingress, the destination for egress ('' when a group is the peer). */
  SourceCidrIp: string;
  DestCidrIp: string;
  SourceGroupId: string;
  DestGroupId: string;
  Policy: 'Accept' | 'Drop';
  /** 1..100; smaller wins; Drop wins a tie. */
  Priority: number;
  NicType: string;
  Description: string;
  CreateTime: string;
}

export interface SecurityGroupData {
  SecurityGroupId: string;
  SecurityGroupName: string;
  Description: string;
  VpcId: string;
  SecurityGroupType: 'normal' | 'enterprise';
  ResourceGroupId: string;
  CreationTime: string;
  Tags: Tag[];
  Permissions: SecurityGroupRule[];
}

export type EipStatus = 'Available' | 'Associating' | 'InUse' | 'Unassociating' | 'Releasing';

export interface EipData {
  AllocationId: string;
  IpAddress: string;
  /** The instance the EIP is (being) bound to, or ''. */
  InstanceId: string;
  /** `EciInstance` or `Nat`, or ''. */
  InstanceType: string;
  InstanceRegionId: string;
  PrivateIpAddress: string;
  VpcId: string;
  Bandwidth: number;
  InternetChargeType: 'PayByBandwidth' | 'PayByTraffic';
  InstanceChargeType: 'PostPaid' | 'PrePaid';
  ISP: string;
  Name: string;
  Description: string;
  BandwidthPackageId: string;
  BandwidthPackageBandwidth: string;
  PublicIpAddressPoolId: string;
  AllocationTime: string;
  Mode: string;
  /** The container group that created this EIP with AutoCreateEip; it is released with that group. */
  AutoCreatedBy: string;
  Tags: Tag[];
}

export interface NatGatewayData {
  NatGatewayId: string;
  VpcId: string;
  VSwitchId: string;
  Name: string;
  Description: string;
  NatType: string;
  NetworkType: 'internet' | 'intranet';
  EipBindMode: string;
  InternetChargeType: string;
  InstanceChargeType: string;
  SnatTableId: string;
  ForwardTableId: string;
  IcmpReplyEnabled: boolean;
  CreationTime: string;
  Tags: Tag[];
}

export interface SnatEntryData {
  SnatEntryId: string;
  SnatTableId: string;
  NatGatewayId: string;
  /** Comma-separated EIP addresses, as on the wire. */
  SnatIp: string;
  SourceCIDR: string;
  SourceVSwitchId: string;
  SnatEntryName: string;
  EipAffinity: number;
}

export interface ForwardEntryData {
  ForwardEntryId: string;
  ForwardTableId: string;
  NatGatewayId: string;
  ExternalIp: string;
  /** `80`, `10/20`, or `any`. */
  ExternalPort: string;
  InternalIp: string;
  InternalPort: string;
  /** `tcp`, `udp` or `any` (the reference answers lower case). */
  IpProtocol: string;
  ForwardEntryName: string;
}

export interface BandwidthPackageData {
  BandwidthPackageId: string;
  Name: string;
  Description: string;
  Bandwidth: number;
  ISP: string;
  InternetChargeType: string;
  Ratio: number;
  CreationTime: string;
  Tags: Tag[];
}

export interface IpPoolData {
  PublicIpAddressPoolId: string;
  Name: string;
  Description: string;
  Isp: string;
  BizType: string;
  CreationTime: string;
  CidrBlocks: { CidrBlock: string; CreationTime: string }[];
  Tags: Tag[];
}

/**
 * A container group (instance). The ECI actions own its full shape (src/api/actions/eci); the fields
 * here are the ones other products read or write: EIP association sets EipAllocationId/InternetIp.
 */
export interface ContainerGroupNetworkData {
  ContainerGroupId: string;
  ContainerGroupName: string;
  VpcId: string;
  VSwitchId: string;
  SecurityGroupIds: string[];
  IntranetIp: string;
  /** The bound EIP's address, or ''. */
  InternetIp: string;
  /** The bound EIP, or ''. */
  EipAllocationId: string;
}
