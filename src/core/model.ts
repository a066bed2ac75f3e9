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
  /** As given to AllocateEipAddress (OpenECI has no resource groups; it is stored and echoed). */
  ResourceGroupId?: string;
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

// ---------------------------------------------------------------------------------------------------
// Container groups: the full persisted spec, owned by the ECI actions (src/api/resources/container-group.ts
// normalises requests into it). The host agent reads it to converge an instance, so every field is
// explicit (defaults filled in) and nothing is left for the agent to guess.

export type ContainerGroupStatus =
  | 'Scheduling'
  | 'ScheduleFailed'
  | 'Pending'
  | 'Running'
  | 'Restarting'
  | 'Updating'
  | 'Terminating'
  | 'Succeeded'
  | 'Failed'
  | 'Expired';

export interface NameValue {
  Name: string;
  Value: string;
}

/** A probe: exactly one of Exec, HttpGet, TcpSocket is set; timings carry the Kubernetes defaults. */
export interface ProbeSpec {
  Exec?: { Command: string[] };
  HttpGet?: { Path: string; Port: number; Scheme: 'HTTP' | 'HTTPS' };
  TcpSocket?: { Port: number };
  InitialDelaySeconds: number;
  PeriodSeconds: number;
  TimeoutSeconds: number;
  SuccessThreshold: number;
  FailureThreshold: number;
}

/** A postStart/preStop hook: exactly one of Exec, HttpGet, TcpSocket is set. */
export interface LifecycleHandlerSpec {
  Exec?: { Command: string[] };
  HttpGet?: { Host: string; Path: string; Port: number; Scheme: 'HTTP' | 'HTTPS'; HttpHeaders: NameValue[] };
  TcpSocket?: { Host: string; Port: number };
}

export interface ContainerPortSpec {
  Port: number;
  Protocol: 'TCP' | 'UDP';
}

export interface EnvVarSpec {
  Key: string;
  Value: string;
  /** A downward-API field (`status.podIP`…) whose value replaces Value at start, or ''. */
  FieldPath: string;
}

export interface VolumeMountSpec {
  /** A volume declared in the group's Volumes. */
  Name: string;
  MountPath: string;
  ReadOnly: boolean;
  SubPath: string;
  MountPropagation: 'None' | 'HostToContainer' | 'Bidirectional';
}

export interface ContainerSecuritySpec {
  /** Linux capabilities added to the runtime's default set (names without CAP_). */
  CapabilityAdds: string[];
  ReadOnlyRootFilesystem: boolean;
  /** Absent: the image's user / group. */
  RunAsUser?: number;
  RunAsGroup?: number;
  RunAsNonRoot: boolean;
}

/** A container or an init container (init containers never carry probes or lifecycle hooks). */
export interface ContainerSpec {
  Name: string;
  Image: string;
  ImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** vCPU; 0 = no limit of its own (it shares the group's). */
  Cpu: number;
  /** GiB; 0 = no limit of its own. */
  Memory: number;
  Gpu: number;
  Commands: string[];
  Args: string[];
  /** '' = the image's working directory. */
  WorkingDir: string;
  Ports: ContainerPortSpec[];
  EnvironmentVars: EnvVarSpec[];
  EnvironmentVarHide: boolean;
  VolumeMounts: VolumeMountSpec[];
  ReadinessProbe?: ProbeSpec;
  LivenessProbe?: ProbeSpec;
  PostStart?: LifecycleHandlerSpec;
  PreStop?: LifecycleHandlerSpec;
  SecurityContext: ContainerSecuritySpec;
  Stdin: boolean;
  StdinOnce: boolean;
  Tty: boolean;
  TerminationMessagePath: string;
  TerminationMessagePolicy: 'File' | 'FallbackToLogsOnError';
}

export interface ConfigFileSpec {
  /** Relative to the mount point; no `..`. */
  Path: string;
  /** Base64, as given (validated to decode). */
  Content: string;
  /** File mode; absent = the volume's DefaultMode. */
  Mode?: number;
}

/** A volume. OpenECI honours EmptyDirVolume and ConfigFileVolume; the other reference types are refused. */
export interface VolumeSpec {
  Name: string;
  Type: 'EmptyDirVolume' | 'ConfigFileVolume';
  EmptyDirVolume?: { Medium: '' | 'Memory'; SizeLimit: string };
  ConfigFileVolume?: { DefaultMode: number; ConfigFileToPaths: ConfigFileSpec[] };
}

export interface RegistryCredentialSpec {
  Server: string;
  UserName: string;
  /** Kept for the agent's image pulls; never shown by Describe*. */
  Password: string;
}

export interface DnsConfigSpec {
  NameServers: string[];
  Searches: string[];
  Options: { Name: string; Value: string }[];
}

export interface ContainerGroupData extends ContainerGroupNetworkData {
  RegionId: string;
  ZoneId: string;
  /** Every vSwitch the request named, in order; VSwitchId is the one the group got its IP from. */
  VSwitchIds: string[];
  ScheduleStrategy: 'VSwitchOrdered' | 'VSwitchRandom';
  /** The identity of the group's network interface (the agent names its veth after it). */
  EniInstanceId: string;
  /** Group vCPU and GiB (defaults: the containers' needs, else 2 vCPU / 4 GiB). */
  Cpu: number;
  Memory: number;
  /** The `<vCPU>-<memory>Gi` spec the group was sized from, or ''. */
  InstanceType: string;
  RestartPolicy: 'Always' | 'OnFailure' | 'Never';
  Containers: ContainerSpec[];
  InitContainers: ContainerSpec[];
  Volumes: VolumeSpec[];
  /** '' (unset): the platform's resolver with DnsConfig added; Default: the host's; None: DnsConfig only. */
  DnsPolicy: '' | 'None' | 'Default';
  DnsConfig: DnsConfigSpec;
  HostAliases: { Ip: string; Hostnames: string[] }[];
  HostName: string;
  NtpServers: string[];
  /** Namespaced sysctls set in the group's namespaces. */
  Sysctls: NameValue[];
  TerminationGracePeriodSeconds: number;
  /** Seconds a group may run before it is stopped as Failed; 0 = no deadline. */
  ActiveDeadlineSeconds: number;
  ShareProcessNamespace: boolean;
  /** Extra ephemeral storage in GiB beyond the default. */
  EphemeralStorage: number;
  CorePattern: string;
  /** Per-instance bandwidth limits in bit/s; 0 = none. */
  IngressBandwidth: number;
  EgressBandwidth: number;
  /** Minutes the group may wait for a host before it becomes ScheduleFailed. */
  MaxPendingMinute: number;
  ImageRegistryCredentials: RegistryCredentialSpec[];
  PlainHttpRegistries: string[];
  InsecureRegistries: string[];
  AutoMatchImageCache: boolean;
  ImageSnapshotId: string;
  OverheadReservation: boolean;
  /** As requested; the EIP itself is EipAllocationId. */
  AutoCreateEip: boolean;
  EipBandwidth: number;
  EipISP: string;
  EipCommonBandwidthPackage: string;
  ResourceGroupId: string;
  Tags: Tag[];
  CreationTime: string;
  /** When the status last changed (Kubernetes lastTransitionTime; DescribeContainerGroupStatus SinceSecond). */
  StatusTime: string;
  SucceededTime: string;
  FailedTime: string;
  /**
   * Bumped by every spec change (UpdateContainerGroup). The agent converges a host to the spec of this
   * generation; a generation it has not applied yet is pending work.
   */
  Generation: number;
}
