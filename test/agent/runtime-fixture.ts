// Complete container group / container specs for the runtime tests, with every field the normaliser fills.
import type { ContainerGroupData, ContainerSpec } from '../../src/core/model.ts';
import { emptyContainer } from '../../src/api/resources/container-group.ts';

export function containerSpec(over: Partial<ContainerSpec> & { Name: string }): ContainerSpec {
  // The normaliser's defaults, so the fixture cannot drift from what the API persists.
  return { ...emptyContainer(over.Name), Image: 'busybox', ...over };
}

export function groupSpec(over: Partial<ContainerGroupData> & { ContainerGroupId: string }): ContainerGroupData {
  return {
    ContainerGroupName: 'web',
    VpcId: 'vpc-1',
    VSwitchId: 'vsw-1',
    SecurityGroupIds: ['sg-1'],
    IntranetIp: '10.244.0.5',
    InternetIp: '',
    EipAllocationId: '',
    RegionId: 'cn-hangzhou',
    ZoneId: 'cn-hangzhou-h',
    VSwitchIds: ['vsw-1'],
    ScheduleStrategy: 'VSwitchOrdered',
    EniInstanceId: 'eni-1',
    Cpu: 2,
    Memory: 4,
    InstanceType: '',
    RestartPolicy: 'Always',
    Containers: [],
    InitContainers: [],
    Volumes: [],
    DnsPolicy: '',
    DnsConfig: { NameServers: [], Searches: [], Options: [] },
    HostAliases: [],
    HostName: '',
    NtpServers: [],
    Sysctls: [],
    TerminationGracePeriodSeconds: 30,
    ActiveDeadlineSeconds: 0,
    ShareProcessNamespace: false,
    EphemeralStorage: 0,
    CorePattern: '',
    IngressBandwidth: 0,
    EgressBandwidth: 0,
    MaxPendingMinute: 0,
    ImageRegistryCredentials: [],
    PlainHttpRegistries: [],
    InsecureRegistries: [],
    AutoMatchImageCache: false,
    ImageSnapshotId: '',
    OverheadReservation: false,
    AutoCreateEip: false,
    EipBandwidth: 0,
    EipISP: '',
    EipCommonBandwidthPackage: '',
    ResourceGroupId: '',
    Tags: [],
    CreationTime: '2026-01-01T00:00:00Z',
    StatusTime: '2026-01-01T00:00:00Z',
    SucceededTime: '',
    FailedTime: '',
    Generation: 1,
    ...over,
  };
}
