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
  host: 'Host',
  imageCache: 'ImageCache',
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
  /** The host placement put the group on (src/controllers/placement.ts); absent or '' while unplaced. */
  HostId?: string;
  /** The status of that host as last seen by the host controller; Unhealthy means its state is unknown. */
  HostStatus?: HostStatus;
  /** DeleteContainerGroup with Force on a group a host runs: the agent skips the grace period. */
  ForceDelete?: boolean;
  /** The Generation the host agent last converged the group to (UpdateContainerGroup → Updating until equal). */
  ObservedGeneration?: number;
  // Observed state written by the host agent (src/agent/runtime/lifecycle.ts), absent until a host reports;
  // src/core/container-status.ts presents it (Containers[].CurrentState…, DescribeContainerGroupStatus).
  /** One entry per container of Containers, in spec order. */
  ContainerStatuses?: ContainerStatusData[];
  /** One entry per container of InitContainers, in spec order. */
  InitContainerStatuses?: ContainerStatusData[];
  /** RFC 3339: when the host began running the group (Kubernetes status.startTime; ActiveDeadlineSeconds counts from it). */
  StartTime?: string;
  /** Why the group is in its status, as a Kubernetes pod's status.reason (`DeadlineExceeded`…), or ''. */
  StatusReason?: string;
  StatusMessage?: string;
  /**
   * The image cache the group uses (ImageSnapshotId, or the one AutoMatchImageCache picked), '' or absent
   * (rows written before image caches) when none: read it as `?? ''`.
   */
  ImageCacheId?: string;
}

// ---------------------------------------------------------------------------------------------------
// Hosts: one row per machine running the host agent (kind Host, account SYSTEM_ACCOUNT, region = its
// region, parent = its zone). System rows: no tenant action lists or shows them.

export type HostStatus = 'Ready' | 'Unhealthy';

export interface HostData {
  HostId: string;
  ZoneId: string;
  RegionId: string;
  /** Capacity offered to container groups: vCPU and GiB. */
  Cpu: number;
  Memory: number;
  /** Set by the host controller from LastHeartbeat; the agent never writes it. */
  Status: HostStatus;
  /** RFC 3339 UTC; written by the agent at registration and every heartbeat. */
  LastHeartbeat: string;
  /** host:port of the agent's local API (logs, exec), or '' when it serves none. */
  AgentEndpoint: string;
  /** The bearer secret of that API, written by the agent with AgentEndpoint; '' with it. */
  AgentToken?: string;
  /** The agent's version string, or ''. */
  Version: string;
  RegisteredTime: string;
}

// ---------------------------------------------------------------------------------------------------
// Observed container state (written by the host agent, shown by Describe*).

/** A container state as the reference's CurrentState / PreviousState. Times are RFC 3339 UTC, '' when none. */
export interface ContainerStateData {
  State: 'Waiting' | 'Running' | 'Terminated';
  /** Waiting: ContainerCreating, PodInitializing, CrashLoopBackOff; Terminated: Completed, Error, OOMKilled, StartError… */
  Reason: string;
  Message: string;
  DetailStatus: string;
  /** Terminated only. */
  ExitCode?: number;
  Signal?: number;
  StartTime: string;
  FinishTime: string;
}

export interface ContainerStatusData {
  Name: string;
  Ready: boolean;
  /** The container has run at least once in this instance. */
  Started: boolean;
  /**
   * Times the container was started again after its first run. Also the ordinal of its current run,
   * which the agent tags the runc container with, so a restarted agent adopts it instead of counting twice.
   */
  RestartCount: number;
  /** Kubernetes' imageID of the current or last run (`registry/repo@sha256:…`); absent before a run or for the built-in image. */
  ImageID?: string;
  CurrentState: ContainerStateData;
  /** The last finished run, absent before one finished. */
  PreviousState?: ContainerStateData;
}

// ---------------------------------------------------------------------------------------------------
// Image caches (ECI CreateImageCache…): kind ImageCache, account = the owner, region, name = ImageCacheName,
// status = the reference's status, parent = ZoneId ('' = every zone of the region). The control plane
// records the desired cache; the host agents of the region build it (src/agent/image-caches.ts) and
// write their progress here.

/** Preparing → Creating → Ready | Failed; UpdateImageCache: Updating → Ready | UpdateFailed. */
export type ImageCacheStatus = 'Preparing' | 'Creating' | 'Ready' | 'Failed' | 'Updating' | 'UpdateFailed';

/** What one host holds of a cache, written by that host's agent only. */
export interface ImageCacheHostRecord {
  /** The cache Generation this record is about; an older one is stale work. */
  Generation: number;
  Status: 'Pulling' | 'Ready' | 'Failed';
  /** Image (as in Images) → manifest digest, for the images pulled so far. */
  Digests: Record<string, string>;
  /** Bytes pulled for the cache's images (compressed layers). */
  Size: number;
  /** The failure, as the registry or the store put it; '' otherwise. */
  Message: string;
  /** RFC 3339: when the record last changed. */
  Time: string;
}

export interface ImageCacheData {
  ImageCacheId: string;
  ImageCacheName: string;
  RegionId: string;
  /** '' = every zone of the region. */
  ZoneId: string;
  /** As requested, in order, without duplicates. */
  Images: string[];
  /** Kept for the agents' pulls; never shown by Describe*. */
  ImageRegistryCredentials: RegistryCredentialSpec[];
  PlainHttpRegistries: string[];
  InsecureRegistries: string[];
  /** GiB: the images' total (pulled) size may not exceed it. */
  ImageCacheSize: number;
  /** 0 = never expires. */
  RetentionDays: number;
  /** RFC 3339, '' = never. A failed creation expires 24 hours after it failed, as in the reference. */
  ExpireDateTime: string;
  /** '' = kept until deleted or expired; LRU = may be evicted when the account reaches its quota. */
  EliminationStrategy: '' | 'LRU';
  /** Layer reuse between caches; always in effect here (the host store is content-addressed). */
  AutoMatchImageCache: boolean;
  /** Accepted and echoed for the reference's network parameters; pulls run from the host, not from a VPC. */
  VSwitchId: string;
  SecurityGroupId: string;
  EipInstanceId: string;
  ResourceGroupId: string;
  Tags: Tag[];
  CreationTime: string;
  /** RFC 3339: the last CreateContainerGroup that used the cache, '' never. */
  LastMatchedTime: string;
  /** `n%` of the images pulled by the host that leads (the reference shows a percentage). */
  Progress: string;
  /** Bumped when UpdateImageCache changes what is cached (images, credentials, registries, size). */
  Generation: number;
  /** When the status last changed. */
  StatusTime: string;
  /** hostId → what that host holds. */
  Hosts: Record<string, ImageCacheHostRecord>;
}
