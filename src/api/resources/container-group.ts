// Container group pieces shared by the ECI actions: the parameter schema of containers, init containers,
// volumes and DNS (Create and Update take the same ones), normalisation of a parsed request into the
// persisted spec (src/core/model.ts ContainerGroupData: every default filled in, because the host agent
// reads it as is), presentation of that spec in the reference's response names, and the teardown of a
// group's network resources.
//
// Refusals: a parameter OpenECI cannot honour answers `UnsupportedParameter` naming the parameter and the
// reason, and only when the request actually asks for something unsupported (Gpu=0 or Type=Linux pass).

import {
  containersNeed,
  decodeBase64,
  isAbsolutePath,
  isContainedRelativePath,
  isFieldPath,
  isHostname,
  isIpv4,
  isQuantity,
  MAX_GROUP_CPU,
  MAX_GROUP_MEMORY,
  mergeByKey,
  NAME_HINT,
  NAME_PATTERN,
  normalizeCapability,
  sizeGroup,
} from '../../core/container-group.ts';
import { parseIp } from '../../core/cidr.ts';
import { observedContainer, presentContainerState } from '../../core/container-status.ts';
import { AgentApiError } from '../../agent/api.ts';
import { ApiError, invalid, invalidParameter, missingParameter } from '../../core/errors.ts';
import {
  KIND,
  type ContainerGroupData,
  type ContainerSpec,
  type DnsConfigSpec,
  type EipData,
  type HostData,
  type LifecycleHandlerSpec,
  type ProbeSpec,
  type RegistryCredentialSpec,
  type VolumeSpec,
} from '../../core/model.ts';
import { p, tagsParam, type InferFields } from '../../core/params.ts';
import { rfc3339 } from '../../core/time.ts';
import type { Resource, StoredEvent, Tx } from '../../store/store.ts';
import { matchesTags, requireOwned } from './common.ts';
import { forgetEip, unboundData } from './eip.ts';

export const requireContainerGroup = (tx: Tx, account: string, id: string): Promise<Resource<ContainerGroupData>> =>
  requireOwned<ContainerGroupData>(tx, KIND.containerGroup, account, id, 'InvalidContainerGroupId.NotFound', 'ContainerGroupId');

/** A parameter OpenECI cannot honour. */
export const unsupported = (name: string, why: string) =>
  invalid('UnsupportedParameter', `The parameter ${name} is not supported by OpenECI: ${why}`);

// ---------------------------------------------------------------------------------------------------
// Schema. No field here has a default: absence must stay visible, because IncrementalUpdate merges only
// what a request gives. Defaults are applied by the normalisers below.

// Every composite spec is its own top-level constant: a p.struct or p.list written inline in another
// spec's argument (or in an action's params) is typed from that context and loses its inferred shape.
const port = p.int({ min: 1, max: 65535 });
const scheme = p.enum(['HTTP', 'HTTPS'], { caseInsensitive: true });
const commandList = p.list(p.string({ max: 4096 }), { max: 256 });
const seconds = (min: number) => p.int({ min, max: 2_147_483_647 });

const execParam = p.struct({ Command: commandList });
const probeHttpGetParam = p.struct({ Path: p.string({ max: 2048 }), Port: port, Scheme: scheme });
const probeTcpParam = p.struct({ Port: port });
const probeParam = p.struct({
  Exec: execParam,
  HttpGet: probeHttpGetParam,
  TcpSocket: probeTcpParam,
  InitialDelaySeconds: seconds(0),
  PeriodSeconds: seconds(1),
  TimeoutSeconds: seconds(1),
  SuccessThreshold: seconds(1),
  FailureThreshold: seconds(1),
});

const headerParam = p.struct({ Name: p.string({ required: true, max: 256 }), Value: p.string({ max: 4096 }) });
const headersParam = p.list(headerParam, { max: 32 });
const portParam = p.struct({ Port: p.int({ min: 1, max: 65535, required: true }), Protocol: p.enum(['TCP', 'UDP'], { caseInsensitive: true }) });
const fieldRefParam = p.struct({ FieldPath: p.string() });
const envParam = p.struct({ Key: p.string({ required: true, max: 1024 }), Value: p.string({ max: 32768 }), FieldRef: fieldRefParam });
const volumeMountParam = p.struct({
  Name: p.string({ required: true }),
  MountPath: p.string({ required: true, max: 4096 }),
  ReadOnly: p.bool(),
  SubPath: p.string({ max: 4096 }),
  MountPropagation: p.enum(['None', 'HostToContainer', 'Bidirectional']),
});
const capabilityList = p.list(p.string({ max: 64 }), { max: 64 });
const capabilityParam = p.struct({ Add: capabilityList });
const securityContextParam = p.struct({ Capability: capabilityParam, ReadOnlyRootFilesystem: p.bool(), RunAsUser: p.int({ min: 0, max: 2_147_483_647 }) });
const portsParam = p.list(portParam, { max: 100 });
const envsParam = p.list(envParam, { max: 500 });
const volumeMountsParam = p.list(volumeMountParam, { max: 64 });

const baseContainerFields = {
  Name: p.string({ required: true, pattern: NAME_PATTERN, hint: NAME_HINT }),
  Image: p.string({ max: 1024, pattern: /^\S+$/, hint: 'an image reference has no whitespace' }),
  ImagePullPolicy: p.enum(['Always', 'IfNotPresent', 'Never']),
  Cpu: p.float({ min: 0, max: MAX_GROUP_CPU }),
  Memory: p.float({ min: 0, max: MAX_GROUP_MEMORY }),
  Gpu: p.int({ min: 0 }),
  Command: commandList,
  Arg: commandList,
  WorkingDir: p.string({ max: 4096 }),
  Port: portsParam,
  EnvironmentVar: envsParam,
  EnvironmentVarHide: p.bool(),
  VolumeMount: volumeMountsParam,
  Stdin: p.bool(),
  StdinOnce: p.bool(),
  Tty: p.bool(),
  TerminationMessagePath: p.string({ max: 4096 }),
  TerminationMessagePolicy: p.enum(['File', 'FallbackToLogsOnError']),
  SecurityContext: securityContextParam,
  SecurityContextRunAsGroup: p.int({ min: 0, max: 2_147_483_647 }),
  SecurityContextRunAsNonRoot: p.bool(),
};

const containerFields = {
  ...baseContainerFields,
  ReadinessProbe: probeParam,
  LivenessProbe: probeParam,
  LifecyclePostStartHandlerExec: commandList,
  LifecyclePostStartHandlerHttpGetHost: p.string({ max: 253 }),
  LifecyclePostStartHandlerHttpGetPath: p.string({ max: 2048 }),
  LifecyclePostStartHandlerHttpGetPort: port,
  LifecyclePostStartHandlerHttpGetScheme: scheme,
  LifecyclePostStartHandlerHttpGetHttpHeader: headersParam,
  // UpdateContainerGroup's SDK model spells this one in the plural.
  LifecyclePostStartHandlerHttpGetHttpHeaders: headersParam,
  LifecyclePostStartHandlerTcpSocketHost: p.string({ max: 253 }),
  LifecyclePostStartHandlerTcpSocketPort: port,
  LifecyclePreStopHandlerExec: commandList,
  LifecyclePreStopHandlerHttpGetHost: p.string({ max: 253 }),
  LifecyclePreStopHandlerHttpGetPath: p.string({ max: 2048 }),
  LifecyclePreStopHandlerHttpGetPort: port,
  LifecyclePreStopHandlerHttpGetScheme: scheme,
  LifecyclePreStopHandlerHttpGetHttpHeader: headersParam,
  LifecyclePreStopHandlerTcpSocketHost: p.string({ max: 253 }),
  LifecyclePreStopHandlerTcpSocketPort: port,
};
const containerStruct = p.struct(containerFields);
const initContainerStruct = p.struct(baseContainerFields);

/** `Container.N.*`: the shared container fields plus probes and the (flat-named) lifecycle hooks. */
export const containerParam = p.list(containerStruct, { max: 20 });

/** `InitContainer.N.*`: the shared container fields (no probes, no lifecycle hooks). */
export const initContainerParam = p.list(initContainerStruct, { max: 20 });

/** Config file content a group may carry, decoded: 1 MiB, the size limit of a Kubernetes ConfigMap. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_CONFIG_BASE64 = Math.ceil(MAX_CONFIG_BYTES / 3) * 4;

export const VOLUME_TYPES = ['EmptyDirVolume', 'ConfigFileVolume', 'NFSVolume', 'DiskVolume', 'FlexVolume', 'HostPathVolume'] as const;

const emptyDirParam = p.struct({ Medium: p.string(), SizeLimit: p.string({ max: 32 }) });
const configFileParam = p.struct({ Path: p.string({ required: true, max: 4096 }), Content: p.string({ max: MAX_CONFIG_BASE64 }), Mode: p.int({ min: 0, max: 0o777 }) });
const configFilesParam = p.list(configFileParam, { max: 100 });
const configFileVolumeParam = p.struct({ DefaultMode: p.int({ min: 0, max: 0o777 }), ConfigFileToPath: configFilesParam });
const nfsParam = p.struct({ Server: p.string(), Path: p.string(), ReadOnly: p.bool() });
const diskParam = p.struct({ DiskId: p.string(), DiskSize: p.int(), FsType: p.string() });
const flexParam = p.struct({ Driver: p.string(), FsType: p.string(), Options: p.string() });
const hostPathParam = p.struct({ Path: p.string(), Type: p.string() });
const volumeStruct = p.struct({
  Name: p.string({ required: true, pattern: NAME_PATTERN, hint: NAME_HINT }),
  Type: p.enum(VOLUME_TYPES, { required: true }),
  EmptyDirVolume: emptyDirParam,
  ConfigFileVolume: configFileVolumeParam,
  NFSVolume: nfsParam,
  DiskVolume: diskParam,
  FlexVolume: flexParam,
  HostPathVolume: hostPathParam,
});
export const volumeParam = p.list(volumeStruct, { max: 64 });

const nameServers = p.list(p.string(), { max: 3 });
const searches = p.list(p.string({ max: 253 }), { max: 6 });
const dnsOptionParam = p.struct({ Name: p.string({ required: true, max: 64 }), Value: p.string({ max: 64 }) });
const dnsOptions = p.list(dnsOptionParam, { max: 16 });
export const dnsConfigParam = p.struct({ NameServer: nameServers, Search: searches, Option: dnsOptions });

const registryCredentialStruct = p.struct({
  Server: p.string({ required: true, max: 256 }),
  UserName: p.string({ required: true, max: 256 }),
  Password: p.string({ required: true, max: 4096 }),
});
export const registryCredentialParam = p.list(registryCredentialStruct, { max: 10 });

const domains = p.list(p.string());
const acrRegistryInfoStruct = p.struct({
  InstanceId: p.string(),
  InstanceName: p.string(),
  RegionId: p.string(),
  Domain: domains,
  ArnService: p.string(),
  ArnUser: p.string(),
});
/** ACR Enterprise instances: parsed only to refuse them (OpenECI has no ACR). */
export const acrRegistryInfoParam = p.list(acrRegistryInfoStruct, { max: 10 });

export type ContainerInput = InferFields<(typeof containerParam)['of']['fields']>;
export type InitContainerInput = InferFields<(typeof initContainerParam)['of']['fields']>;
export type VolumeInput = InferFields<(typeof volumeParam)['of']['fields']>;
export type DnsConfigInput = InferFields<(typeof dnsConfigParam)['fields']>;
export type RegistryCredentialInput = InferFields<(typeof registryCredentialParam)['of']['fields']>;

// ---------------------------------------------------------------------------------------------------
// Normalisation.

const PROBE_DEFAULTS = { InitialDelaySeconds: 0, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3 };

/** An empty container with every default the agent applies; Image '' until the request gives one. */
export function emptyContainer(name: string): ContainerSpec {
  return {
    Name: name,
    Image: '',
    ImagePullPolicy: 'IfNotPresent',
    Cpu: 0,
    Memory: 0,
    Gpu: 0,
    Commands: [],
    Args: [],
    WorkingDir: '',
    Ports: [],
    EnvironmentVars: [],
    EnvironmentVarHide: false,
    VolumeMounts: [],
    SecurityContext: { CapabilityAdds: [], ReadOnlyRootFilesystem: false, RunAsNonRoot: false },
    Stdin: false,
    StdinOnce: false,
    Tty: false,
    TerminationMessagePath: '/dev/termination-log',
    TerminationMessagePolicy: 'File',
  };
}

type ProbeInput = NonNullable<ContainerInput['ReadinessProbe']>;

function normalizeProbe(raw: ProbeInput, path: string, liveness: boolean): ProbeSpec {
  const handlers = [raw.Exec && 'Exec', raw.HttpGet && 'HttpGet', raw.TcpSocket && 'TcpSocket'].filter(Boolean);
  if (handlers.length !== 1)
    throw invalidParameter(path, 'A probe takes exactly one of Exec.Command, HttpGet or TcpSocket.');
  const probe: ProbeSpec = {
    InitialDelaySeconds: raw.InitialDelaySeconds ?? PROBE_DEFAULTS.InitialDelaySeconds,
    PeriodSeconds: raw.PeriodSeconds ?? PROBE_DEFAULTS.PeriodSeconds,
    TimeoutSeconds: raw.TimeoutSeconds ?? PROBE_DEFAULTS.TimeoutSeconds,
    SuccessThreshold: raw.SuccessThreshold ?? PROBE_DEFAULTS.SuccessThreshold,
    FailureThreshold: raw.FailureThreshold ?? PROBE_DEFAULTS.FailureThreshold,
  };
  if (liveness && probe.SuccessThreshold !== 1) throw invalidParameter(`${path}.SuccessThreshold`, 'A liveness probe must have SuccessThreshold 1.');
  if (raw.Exec) {
    if (!raw.Exec.Command?.length) throw missingParameter(`${path}.Exec.Command.1`);
    probe.Exec = { Command: raw.Exec.Command };
  } else if (raw.HttpGet) {
    if (raw.HttpGet.Port === undefined) throw missingParameter(`${path}.HttpGet.Port`);
    const p0 = raw.HttpGet.Path || '/';
    if (!p0.startsWith('/')) throw invalidParameter(`${path}.HttpGet.Path`, 'The path must start with "/".');
    probe.HttpGet = { Path: p0, Port: raw.HttpGet.Port, Scheme: raw.HttpGet.Scheme ?? 'HTTP' };
  } else if (raw.TcpSocket) {
    if (raw.TcpSocket.Port === undefined) throw missingParameter(`${path}.TcpSocket.Port`);
    probe.TcpSocket = { Port: raw.TcpSocket.Port };
  }
  return probe;
}

/** The flat `Lifecycle<Phase>Handler*` fields of one phase, gathered under short names. */
function hookInput(raw: ContainerInput, phase: 'PostStart' | 'PreStop') {
  return phase === 'PostStart'
    ? {
        exec: raw.LifecyclePostStartHandlerExec,
        host: raw.LifecyclePostStartHandlerHttpGetHost,
        path: raw.LifecyclePostStartHandlerHttpGetPath,
        port: raw.LifecyclePostStartHandlerHttpGetPort,
        scheme: raw.LifecyclePostStartHandlerHttpGetScheme,
        headers: raw.LifecyclePostStartHandlerHttpGetHttpHeader ?? raw.LifecyclePostStartHandlerHttpGetHttpHeaders,
        tcpHost: raw.LifecyclePostStartHandlerTcpSocketHost,
        tcpPort: raw.LifecyclePostStartHandlerTcpSocketPort,
      }
    : {
        exec: raw.LifecyclePreStopHandlerExec,
        host: raw.LifecyclePreStopHandlerHttpGetHost,
        path: raw.LifecyclePreStopHandlerHttpGetPath,
        port: raw.LifecyclePreStopHandlerHttpGetPort,
        scheme: raw.LifecyclePreStopHandlerHttpGetScheme,
        headers: raw.LifecyclePreStopHandlerHttpGetHttpHeader,
        tcpHost: raw.LifecyclePreStopHandlerTcpSocketHost,
        tcpPort: raw.LifecyclePreStopHandlerTcpSocketPort,
      };
}

/** One phase's hook, or undefined when the request gives none of its fields. */
function normalizeLifecycle(raw: ContainerInput, phase: 'PostStart' | 'PreStop', path: string): LifecycleHandlerSpec | undefined {
  const f = `${path}.Lifecycle${phase}Handler`;
  const h = hookInput(raw, phase);
  const http = [h.host, h.path, h.port, h.scheme, h.headers].some((v) => v !== undefined);
  const tcp = h.tcpHost !== undefined || h.tcpPort !== undefined;
  const count = (h.exec !== undefined ? 1 : 0) + (http ? 1 : 0) + (tcp ? 1 : 0);
  if (count === 0) return undefined;
  if (count > 1) throw invalidParameter(f, `A ${phase} hook takes exactly one of Exec, HttpGet or TcpSocket.`);
  if (h.exec !== undefined) {
    if (h.exec.length === 0) throw missingParameter(`${f}Exec.1`);
    return { Exec: { Command: h.exec } };
  }
  if (http) {
    if (h.port === undefined) throw missingParameter(`${f}HttpGetPort`);
    const host = h.host ?? '';
    if (host && !isHostname(host)) throw invalidParameter(`${f}HttpGetHost`, 'Use a host name or an IPv4 address.');
    const hpath = h.path || '/';
    if (!hpath.startsWith('/')) throw invalidParameter(`${f}HttpGetPath`, 'The path must start with "/".');
    return { HttpGet: { Host: host, Path: hpath, Port: h.port, Scheme: h.scheme ?? 'HTTP', HttpHeaders: (h.headers ?? []).map((x) => ({ Name: x.Name, Value: x.Value ?? '' })) } };
  }
  if (h.tcpPort === undefined) throw missingParameter(`${f}TcpSocketPort`);
  const thost = h.tcpHost ?? '';
  if (thost && !isHostname(thost)) throw invalidParameter(`${f}TcpSocketHost`, 'Use a host name or an IPv4 address.');
  return { TcpSocket: { Host: thost, Port: h.tcpPort } };
}

/**
 * A container of the request over `base`: every field the request gives replaces base's, the others
 * stay (base is an empty container on create and RenewUpdate, the stored one on IncrementalUpdate).
 * Container-local rules are checked here; group-wide ones in checkSpec.
 */
export function normalizeContainer(raw: ContainerInput | InitContainerInput, path: string, base: ContainerSpec, init: boolean, ownsBase = false): ContainerSpec {
  // A base made for this call alone (ownsBase) is filled in place instead of copied.
  const c: ContainerSpec = ownsBase ? base : structuredClone(base);
  c.Name = raw.Name;
  if (raw.Image !== undefined) c.Image = raw.Image;
  if (!c.Image) throw missingParameter(`${path}.Image`);
  if (raw.ImagePullPolicy !== undefined) c.ImagePullPolicy = raw.ImagePullPolicy;
  if (raw.Cpu !== undefined) c.Cpu = raw.Cpu;
  if (raw.Memory !== undefined) c.Memory = raw.Memory;
  if (raw.Gpu !== undefined) {
    if (raw.Gpu > 0) throw unsupported(`${path}.Gpu`, 'the hosts have no GPUs to hand out.');
    c.Gpu = 0;
  }
  if (raw.Command !== undefined) c.Commands = raw.Command;
  if (raw.Arg !== undefined) c.Args = raw.Arg;
  if (raw.WorkingDir !== undefined) {
    if (raw.WorkingDir && !isAbsolutePath(raw.WorkingDir)) throw invalidParameter(`${path}.WorkingDir`, 'Use an absolute path.');
    c.WorkingDir = raw.WorkingDir;
  }
  if (raw.Port !== undefined) c.Ports = raw.Port.map((x) => ({ Port: x.Port, Protocol: x.Protocol ?? 'TCP' }));
  if (raw.EnvironmentVar !== undefined) {
    c.EnvironmentVars = raw.EnvironmentVar.map((e, i) => {
      if (e.Key === '' || e.Key.includes('=')) throw invalidParameter(`${path}.EnvironmentVar.${i + 1}.Key`, 'A variable name is non-empty and has no "=".');
      const fieldPath = e.FieldRef?.FieldPath ?? '';
      if (fieldPath && !isFieldPath(fieldPath))
        throw invalidParameter(`${path}.EnvironmentVar.${i + 1}.FieldRef.FieldPath`, `"${fieldPath}" is not a supported field (status.podIP, metadata.name, …).`);
      if (fieldPath && e.Value) throw invalidParameter(`${path}.EnvironmentVar.${i + 1}`, 'Give either Value or FieldRef.FieldPath, not both.');
      return { Key: e.Key, Value: e.Value ?? '', FieldPath: fieldPath };
    });
  }
  if (raw.EnvironmentVarHide !== undefined) c.EnvironmentVarHide = raw.EnvironmentVarHide;
  if (raw.VolumeMount !== undefined) {
    c.VolumeMounts = raw.VolumeMount.map((m, i) => {
      const mp = `${path}.VolumeMount.${i + 1}`;
      if (!isAbsolutePath(m.MountPath)) throw invalidParameter(`${mp}.MountPath`, 'Use an absolute path.');
      if (m.SubPath && !isContainedRelativePath(m.SubPath)) throw invalidParameter(`${mp}.SubPath`, 'Use a relative path without "..".');
      return { Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly ?? false, SubPath: m.SubPath ?? '', MountPropagation: m.MountPropagation ?? 'None' };
    });
  }
  if (raw.Stdin !== undefined) c.Stdin = raw.Stdin;
  if (raw.StdinOnce !== undefined) c.StdinOnce = raw.StdinOnce;
  if (raw.Tty !== undefined) c.Tty = raw.Tty;
  if (raw.TerminationMessagePath !== undefined) {
    if (!isAbsolutePath(raw.TerminationMessagePath)) throw invalidParameter(`${path}.TerminationMessagePath`, 'Use an absolute path.');
    c.TerminationMessagePath = raw.TerminationMessagePath;
  }
  if (raw.TerminationMessagePolicy !== undefined) c.TerminationMessagePolicy = raw.TerminationMessagePolicy;
  const sc = raw.SecurityContext;
  if (sc?.Capability?.Add !== undefined) {
    c.SecurityContext.CapabilityAdds = sc.Capability.Add.map((cap, i) => {
      const name = normalizeCapability(cap);
      if (!name)
        throw invalidParameter(`${path}.SecurityContext.Capability.Add.${i + 1}`, `The capability "${cap}" may not be added: it reaches beyond the container group's own namespaces.`);
      return name;
    });
  }
  if (sc?.ReadOnlyRootFilesystem !== undefined) c.SecurityContext.ReadOnlyRootFilesystem = sc.ReadOnlyRootFilesystem;
  if (sc?.RunAsUser !== undefined) c.SecurityContext.RunAsUser = sc.RunAsUser;
  if (raw.SecurityContextRunAsGroup !== undefined) c.SecurityContext.RunAsGroup = raw.SecurityContextRunAsGroup;
  if (raw.SecurityContextRunAsNonRoot !== undefined) c.SecurityContext.RunAsNonRoot = raw.SecurityContextRunAsNonRoot;
  if (c.SecurityContext.RunAsNonRoot && c.SecurityContext.RunAsUser === 0)
    throw invalidParameter(`${path}.SecurityContextRunAsNonRoot`, 'RunAsNonRoot contradicts RunAsUser 0.');
  if (!init) {
    const full = raw as ContainerInput;
    if (full.ReadinessProbe !== undefined) c.ReadinessProbe = normalizeProbe(full.ReadinessProbe, `${path}.ReadinessProbe`, false);
    if (full.LivenessProbe !== undefined) c.LivenessProbe = normalizeProbe(full.LivenessProbe, `${path}.LivenessProbe`, true);
    const postStart = normalizeLifecycle(full, 'PostStart', path);
    if (postStart) c.PostStart = postStart;
    const preStop = normalizeLifecycle(full, 'PreStop', path);
    if (preStop) c.PreStop = preStop;
  }
  return c;
}

export function normalizeVolume(raw: VolumeInput, path: string): VolumeSpec {
  const given = (['EmptyDirVolume', 'ConfigFileVolume', 'NFSVolume', 'DiskVolume', 'FlexVolume', 'HostPathVolume'] as const).filter((t) => raw[t] !== undefined);
  const other = given.find((t) => t !== raw.Type);
  if (other) throw invalidParameter(`${path}.${other}`, `The volume's Type is ${raw.Type}; ${other} does not apply to it.`);
  switch (raw.Type) {
    case 'EmptyDirVolume': {
      const medium = raw.EmptyDirVolume?.Medium ?? '';
      if (medium !== '' && medium !== 'Memory') throw invalidParameter(`${path}.EmptyDirVolume.Medium`, 'Use "" (disk) or "Memory".');
      const sizeLimit = raw.EmptyDirVolume?.SizeLimit ?? '';
      if (sizeLimit && !isQuantity(sizeLimit)) throw invalidParameter(`${path}.EmptyDirVolume.SizeLimit`, 'Use a quantity such as 256Mi or 1Gi.');
      return { Name: raw.Name, Type: 'EmptyDirVolume', EmptyDirVolume: { Medium: medium, SizeLimit: sizeLimit } };
    }
    case 'ConfigFileVolume': {
      const cf = raw.ConfigFileVolume;
      if (!cf?.ConfigFileToPath?.length) throw missingParameter(`${path}.ConfigFileVolume.ConfigFileToPath.1.Path`);
      const seen = new Set<string>();
      const files = cf.ConfigFileToPath.map((f, i) => {
        const fp = `${path}.ConfigFileVolume.ConfigFileToPath.${i + 1}`;
        if (!isContainedRelativePath(f.Path)) throw invalidParameter(`${fp}.Path`, 'Use a relative path without "..".');
        if (seen.has(f.Path)) throw invalidParameter(`${fp}.Path`, `The path "${f.Path}" is given twice.`);
        seen.add(f.Path);
        const content = f.Content ?? '';
        if (decodeBase64(content) === undefined) throw invalidParameter(`${fp}.Content`, 'The content must be base64-encoded.');
        return f.Mode !== undefined ? { Path: f.Path, Content: content, Mode: f.Mode } : { Path: f.Path, Content: content };
      });
      return { Name: raw.Name, Type: 'ConfigFileVolume', ConfigFileVolume: { DefaultMode: cf.DefaultMode ?? 0o644, ConfigFileToPaths: files } };
    }
    case 'HostPathVolume':
      throw unsupported(`${path}.Type`, 'HostPathVolume would expose the shared host to the container group; use EmptyDirVolume or ConfigFileVolume.');
    case 'NFSVolume':
    case 'DiskVolume':
    case 'FlexVolume':
      throw unsupported(`${path}.Type`, `${raw.Type} needs storage OpenECI does not provide; use EmptyDirVolume or ConfigFileVolume.`);
  }
}

export function normalizeDnsConfig(raw: DnsConfigInput | undefined, base: DnsConfigSpec): DnsConfigSpec {
  const out = structuredClone(base);
  if (!raw) return out;
  if (raw.NameServer !== undefined) {
    raw.NameServer.forEach((s, i) => {
      if (!isIpv4(s)) throw invalidParameter(`DnsConfig.NameServer.${i + 1}`, 'A name server is an IPv4 address.');
    });
    out.NameServers = raw.NameServer;
  }
  if (raw.Search !== undefined) {
    raw.Search.forEach((s, i) => {
      if (!isHostname(s)) throw invalidParameter(`DnsConfig.Search.${i + 1}`, 'A search domain is a DNS name.');
    });
    out.Searches = raw.Search;
  }
  if (raw.Option !== undefined) out.Options = raw.Option.map((o) => ({ Name: o.Name, Value: o.Value ?? '' }));
  return out;
}

export const EMPTY_DNS_CONFIG: DnsConfigSpec = Object.freeze({ NameServers: [], Searches: [], Options: [] }) as DnsConfigSpec;

export function normalizeRegistryCredentials(raw: RegistryCredentialInput[]): RegistryCredentialSpec[] {
  return raw.map((r, i) => {
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(r.Server)) throw invalidParameter(`ImageRegistryCredential.${i + 1}.Server`, 'Use a registry host name, optionally with :port.');
    return { Server: r.Server, UserName: r.UserName, Password: r.Password };
  });
}

/** The parts of the spec that group-wide rules look at. */
export type SpecParts = Pick<ContainerGroupData, 'Containers' | 'InitContainers' | 'Volumes'>;

/**
 * Group-wide rules: unique names across containers and init containers, unique volume names, every
 * mount naming a declared volume, a port+protocol used by one container only (they share the network
 * namespace). Throws InvalidParameter naming the offending field.
 */
export function checkSpec(spec: SpecParts): void {
  if (spec.Containers.length === 0) throw missingParameter('Container.1.Name');
  const names = new Set<string>();
  for (const [i, c] of [...spec.Containers.map((c, i) => [`Container.${i + 1}`, c] as const), ...spec.InitContainers.map((c, i) => [`InitContainer.${i + 1}`, c] as const)]) {
    if (names.has(c.Name)) throw invalidParameter(`${i}.Name`, `The container name "${c.Name}" is used twice in the group.`);
    names.add(c.Name);
  }
  const volumes = new Set<string>();
  let configBytes = 0;
  spec.Volumes.forEach((v, i) => {
    if (volumes.has(v.Name)) throw invalidParameter(`Volume.${i + 1}.Name`, `The volume name "${v.Name}" is used twice.`);
    volumes.add(v.Name);
    for (const f of v.ConfigFileVolume?.ConfigFileToPaths ?? []) configBytes += decodeBase64(f.Content)?.length ?? 0;
  });
  if (configBytes > MAX_CONFIG_BYTES)
    throw invalidParameter('Volume', `The config files of a container group hold at most ${MAX_CONFIG_BYTES} bytes (as a Kubernetes ConfigMap); these hold ${configBytes}.`);
  const ports = new Map<string, string>();
  const check = (list: ContainerSpec[], prefix: string, sharePorts: boolean) =>
    list.forEach((c, i) => {
      c.VolumeMounts.forEach((m, j) => {
        if (!volumes.has(m.Name)) throw invalidParameter(`${prefix}.${i + 1}.VolumeMount.${j + 1}.Name`, `No volume named "${m.Name}" is declared in Volume.N.`);
      });
      if (!sharePorts) return;
      for (const pt of c.Ports) {
        const key = `${pt.Port}/${pt.Protocol}`;
        const owner = ports.get(key);
        if (owner !== undefined) throw invalidParameter(`${prefix}.${i + 1}.Port`, `The port ${key} is already used by container "${owner}".`);
        ports.set(key, c.Name);
      }
    });
  check(spec.Containers, 'Container', true);
  // Init containers run one at a time before the others, so their ports never collide.
  check(spec.InitContainers, 'InitContainer', false);
}

/** Sizes the group (see sizeGroup) or throws InvalidParameter on the field that is too small. */
export function sizeFor(spec: SpecParts, given: { Cpu?: number; Memory?: number }): { Cpu: number; Memory: number } {
  const sized = sizeGroup(given, containersNeed(spec.Containers, spec.InitContainers));
  if ('error' in sized) throw invalidParameter(sized.field, sized.error);
  return sized;
}

/**
 * Builds containers for a request. With `existing` (IncrementalUpdate), a container named like a stored
 * one starts from it, and the stored ones the request does not name stay.
 */
export function buildContainers(
  raw: (ContainerInput | InitContainerInput)[],
  prefix: 'Container' | 'InitContainer',
  existing: readonly ContainerSpec[] | undefined,
): ContainerSpec[] {
  const built = raw.map((r, i) => {
    const stored = existing?.find((c) => c.Name === r.Name);
    return normalizeContainer(r, `${prefix}.${i + 1}`, stored ?? emptyContainer(r.Name), prefix === 'InitContainer', stored === undefined);
  });
  return existing ? mergeByKey(existing, built, (c) => c.Name) : built;
}

// ---------------------------------------------------------------------------------------------------
// Presentation (DescribeContainerGroups). Response names differ from request names (reference §2.2).

function presentProbe(pr: ProbeSpec) {
  return {
    Execs: pr.Exec?.Command ?? [],
    ...(pr.HttpGet ? { HttpGet: { Path: pr.HttpGet.Path, Port: pr.HttpGet.Port, Scheme: pr.HttpGet.Scheme } } : {}),
    ...(pr.TcpSocket ? { TcpSocket: { Host: '', Port: pr.TcpSocket.Port } } : {}),
    InitialDelaySeconds: pr.InitialDelaySeconds,
    PeriodSeconds: pr.PeriodSeconds,
    TimeoutSeconds: pr.TimeoutSeconds,
    SuccessThreshold: pr.SuccessThreshold,
    FailureThreshold: pr.FailureThreshold,
  };
}

function presentHook(h: LifecycleHandlerSpec) {
  return {
    Execs: h.Exec?.Command ?? [],
    ...(h.HttpGet ? { HttpGet: { ...h.HttpGet, HttpHeaders: h.HttpGet.HttpHeaders.map((x) => ({ ...x })) } } : {}),
    ...(h.TcpSocket ? { TcpSocket: { ...h.TcpSocket } } : {}),
  };
}

export function presentContainer(c: ContainerSpec, groupStatus: string, init: boolean, observed?: Pick<ContainerGroupData, 'ContainerStatuses' | 'InitContainerStatuses'>) {
  // What the host agent last reported (core/container-status.ts), or the placeholder before it did.
  const state = presentContainerState(groupStatus, observed ? observedContainer(observed, c.Name, init) : undefined);
  return {
    Name: c.Name,
    Image: c.Image,
    ImagePullPolicy: c.ImagePullPolicy,
    Cpu: c.Cpu,
    Memory: c.Memory,
    Gpu: c.Gpu,
    // The reference's init containers answer `Command`, its containers `Commands`.
    ...(init ? { Command: c.Commands } : { Commands: c.Commands }),
    Args: c.Args,
    WorkingDir: c.WorkingDir,
    Ports: c.Ports.map((x) => ({ Port: x.Port, Protocol: x.Protocol })),
    EnvironmentVarHide: c.EnvironmentVarHide,
    EnvironmentVars: c.EnvironmentVarHide
      ? []
      : c.EnvironmentVars.map((e) => (e.FieldPath ? { Key: e.Key, Value: '', ValueFrom: { FieldRef: { FieldPath: e.FieldPath } } } : { Key: e.Key, Value: e.Value })),
    VolumeMounts: c.VolumeMounts.map((m) => ({ ...m })),
    Ready: state.Ready,
    RestartCount: state.RestartCount,
    Stdin: c.Stdin,
    StdinOnce: c.StdinOnce,
    Tty: c.Tty,
    TerminationMessagePath: c.TerminationMessagePath,
    TerminationMessagePolicy: c.TerminationMessagePolicy,
    CurrentState: state.CurrentState,
    PreviousState: state.PreviousState,
    SecurityContext: {
      Capability: { Adds: c.SecurityContext.CapabilityAdds },
      ReadOnlyRootFilesystem: c.SecurityContext.ReadOnlyRootFilesystem,
      ...(c.SecurityContext.RunAsUser !== undefined ? { RunAsUser: c.SecurityContext.RunAsUser } : {}),
      ...(c.SecurityContext.RunAsGroup !== undefined ? { RunAsGroup: c.SecurityContext.RunAsGroup } : {}),
      RunAsNonRoot: c.SecurityContext.RunAsNonRoot,
    },
    ...(c.ReadinessProbe ? { ReadinessProbe: presentProbe(c.ReadinessProbe) } : {}),
    ...(c.LivenessProbe ? { LivenessProbe: presentProbe(c.LivenessProbe) } : {}),
    ...(c.PostStart ? { LifecyclePostStartHandler: presentHook(c.PostStart) } : {}),
    ...(c.PreStop ? { LifecyclePreStopHandler: presentHook(c.PreStop) } : {}),
  };
}

export function presentVolume(v: VolumeSpec) {
  const out: Record<string, unknown> = { Name: v.Name, Type: v.Type };
  if (v.EmptyDirVolume) {
    out.EmptyDirVolumeMedium = v.EmptyDirVolume.Medium;
    out.EmptyDirVolumeSizeLimit = v.EmptyDirVolume.SizeLimit;
  }
  if (v.ConfigFileVolume) {
    out.ConfigFileVolumeDefaultMode = v.ConfigFileVolume.DefaultMode;
    out.ConfigFileVolumeConfigFileToPaths = v.ConfigFileVolume.ConfigFileToPaths.map((f) => ({ ...f }));
  }
  return out;
}

/** A stored event as the reference prints it; Name is unique per event, as Kubernetes event names are. */
export function presentEvent(groupId: string, e: StoredEvent) {
  return {
    Name: `${groupId}.${e.seq.toString(16)}`,
    Count: e.count,
    Type: e.type,
    Reason: e.reason,
    Message: e.message,
    FirstTimestamp: e.firstTimestamp,
    LastTimestamp: e.lastTimestamp,
  };
}

/** The reference's DescribeContainerGroups item; `events` are already presented (≤50). */
export function presentContainerGroup(r: Resource<ContainerGroupData>, events: ReturnType<typeof presentEvent>[] | undefined) {
  const { head, tail } = presentGroupParts(r);
  return { ...head, ...(events ? { Events: events } : {}), ...tail };
}

/**
 * A presented group in the reference's key order, as the fields before its Events and those after.
 * A pure function of the stored row: nothing but the row (id, status, data) goes into it.
 */
function presentGroupParts(r: Resource<ContainerGroupData>) {
  const d = r.data;
  const head = {
    ContainerGroupId: r.id,
    ContainerGroupName: d.ContainerGroupName,
    Status: r.status,
    RegionId: r.region,
    ZoneId: d.ZoneId,
    VpcId: d.VpcId,
    VSwitchId: d.VSwitchId,
    SecurityGroupId: d.SecurityGroupIds.join(','),
    EniInstanceId: d.EniInstanceId,
    IntranetIp: d.IntranetIp,
    InternetIp: d.InternetIp,
    Ipv6Address: '',
    Cpu: d.Cpu,
    Memory: d.Memory,
    InstanceType: d.InstanceType,
    ComputeCategory: '',
    RestartPolicy: d.RestartPolicy,
    SpotStrategy: 'NoSpot',
    SpotPriceLimit: 0,
    RamRoleName: '',
    ResourceGroupId: d.ResourceGroupId,
    EphemeralStorage: d.EphemeralStorage,
    DnsPolicy: d.DnsPolicy,
    CreationTime: d.CreationTime,
    SucceededTime: d.SucceededTime,
    FailedTime: d.FailedTime,
    ExpiredTime: '',
    Tags: d.Tags.map((t) => ({ Key: t.Key, Value: t.Value })),
  };
  const tail = {
    Containers: d.Containers.map((c) => presentContainer(c, r.status, false, d)),
    InitContainers: d.InitContainers.map((c) => presentContainer(c, r.status, true, d)),
    Volumes: d.Volumes.map(presentVolume),
    DnsConfig: { NameServers: d.DnsConfig.NameServers, Searches: d.DnsConfig.Searches, Options: d.DnsConfig.Options.map((o) => ({ ...o })) },
    HostAliases: d.HostAliases.map((h) => ({ Ip: h.Ip, Hostnames: h.Hostnames })),
    EciSecurityContext: { Sysctls: d.Sysctls.map((s) => ({ ...s })) },
    TenantEniInstanceId: '',
    TenantEniIp: '',
    TenantSecurityGroupId: '',
    TenantVSwitchId: '',
    // Request parameters the reference does not echo; OpenECI shows what it stored.
    VSwitchIds: d.VSwitchIds,
    ScheduleStrategy: d.ScheduleStrategy,
    HostName: d.HostName,
    NtpServers: d.NtpServers,
    TerminationGracePeriodSeconds: d.TerminationGracePeriodSeconds,
    ActiveDeadlineSeconds: d.ActiveDeadlineSeconds,
    ShareProcessNamespace: d.ShareProcessNamespace,
    CorePattern: d.CorePattern,
    IngressBandwidth: d.IngressBandwidth,
    EgressBandwidth: d.EgressBandwidth,
    MaxPendingMinute: d.MaxPendingMinute,
    ImageRegistryCredentials: d.ImageRegistryCredentials.map((c) => ({ Server: c.Server, UserName: c.UserName })),
    PlainHttpRegistry: d.PlainHttpRegistries.join(','),
    InsecureRegistry: d.InsecureRegistries.join(','),
    AutoMatchImageCache: d.AutoMatchImageCache,
    ImageSnapshotId: d.ImageSnapshotId,
    OverheadReservationOption: { EnableOverheadReservation: d.OverheadReservation },
    AutoCreateEip: d.AutoCreateEip,
    EipBandwidth: d.EipBandwidth,
    EipISP: d.EipISP,
    EipCommonBandwidthPackage: d.EipCommonBandwidthPackage,
    EipInstanceId: d.EipAllocationId,
    OsType: 'Linux',
    CpuArchitecture: 'AMD64',
    Generation: d.Generation,
  };
  return { head, tail };
}

/**
 * The JSON of presented groups without their events, per group id, for the row version it was made
 * from: the rows (id, version) name exactly one content (Tx.update bumps the version of every change,
 * status included), so an unchanged group is not decoded or presented again (rows read with
 * ListQuery.lazyData decode their data only when asked). Bounded; dropped whole when full.
 */
const RENDERED_MAX = 20_000;
type Rendered = { readonly version: number; readonly head: string; readonly tail: string };
/** Per store: ids and versions name a content only within one store (tests inject the ids' randomness). */
const renderedByStore = new WeakMap<object, Map<string, Rendered>>();

/**
 * JSON.stringify(presentContainerGroup(r, events)), from the cache when the row is unchanged. `r` is
 * a row as `store` holds it (committed; not one changed in memory).
 */
export function renderContainerGroup(store: object, r: Resource<ContainerGroupData>, events: ReturnType<typeof presentEvent>[] | undefined): string {
  let rendered = renderedByStore.get(store);
  if (!rendered) renderedByStore.set(store, (rendered = new Map()));
  let hit = rendered.get(r.id);
  if (hit === undefined || hit.version !== r.version) {
    const { head, tail } = presentGroupParts(r);
    hit = { version: r.version, head: JSON.stringify(head).slice(0, -1), tail: JSON.stringify(tail).slice(1) };
    if (rendered.size >= RENDERED_MAX) rendered.clear();
    rendered.set(r.id, hit);
  }
  return events ? `${hit.head},"Events":${JSON.stringify(events)},${hit.tail}` : `${hit.head},${hit.tail}`;
}

/** The Kubernetes identity of a group: the virtual node tags pods with them (virtual-kubelet convention). */
export function podIdentity(d: ContainerGroupData): { Name: string; Namespace: string; uuid: string } {
  const tag = (k: string) => d.Tags.find((t) => t.Key === k)?.Value;
  return { Name: tag('PodName') ?? d.ContainerGroupName, Namespace: tag('NameSpace') ?? '', uuid: tag('UID') ?? '' };
}

// ---------------------------------------------------------------------------------------------------
// Teardown.

/**
 * Removes a group that no host holds, in the caller's transaction: its private address goes back to the
 * vSwitch, an EIP it created with AutoCreateEip is released (row and address), a user's EIP bound to it
 * returns to Available, its events and its row are deleted.
 *
 * Contract for the host agent (a later issue): a group some host holds (core isOnHost) must not be
 * removed here; DeleteContainerGroup then marks it Terminating, the agent stops it gracefully
 * (preStop, TerminationGracePeriodSeconds) and calls this once the host has let go of it.
 */
export async function removeContainerGroup(tx: Tx, group: Resource<ContainerGroupData>): Promise<void> {
  const d = group.data;
  if (d.IntranetIp) {
    const ip = parseIp(d.IntranetIp);
    if (ip !== undefined && (await tx.ipOwner(d.VSwitchId, ip)) === group.id) await tx.releaseIp(d.VSwitchId, ip);
  }
  const eips = (await tx.list<EipData>({ kind: KIND.eip, account: group.account, region: group.region })).filter(
    (e) => e.data.AutoCreatedBy === group.id || (e.data.InstanceType === 'EciInstance' && e.data.InstanceId === group.id),
  );
  for (const eip of eips) {
    const created = eip.data.AutoCreatedBy === group.id;
    const bound = eip.data.InstanceType === 'EciInstance' && eip.data.InstanceId === group.id;
    if (created && (bound || eip.data.InstanceId === '')) {
      await forgetEip(tx, eip);
    } else if (bound) {
      eip.status = 'Available';
      eip.data = unboundData(eip.data);
      await tx.update(eip);
    } else {
      // Created with this group but since bound elsewhere by the user: it stays, as an ordinary EIP.
      eip.data = { ...eip.data, AutoCreatedBy: '' };
      await tx.update(eip);
    }
  }
  await tx.deleteEvents(group.id);
  await tx.delete(KIND.containerGroup, group.id);
}

// ---------------------------------------------------------------------------------------------------
// The host agent of a placed group (DescribeContainerLog, ExecContainerCommand forward to its local API).

/** The API address and secret of the agent that runs `group`; ServiceUnavailable when none serves it. */
export async function requireGroupAgent(tx: Tx, group: Resource<ContainerGroupData>): Promise<{ hostId: string; endpoint: string; token: string }> {
  const hostId = group.data.HostId ?? '';
  const host = hostId ? await tx.get<HostData>(KIND.host, hostId) : undefined;
  if (!host || !host.data.AgentEndpoint || !host.data.AgentToken)
    throw new ApiError('Unavailable', 'ServiceUnavailable', `No host agent serves the container group ${group.id}${hostId ? ` (host ${hostId} has no agent API)` : ''}.`);
  return { hostId, endpoint: host.data.AgentEndpoint, token: host.data.AgentToken };
}

/** Relays an agent API failure with the agent's error code (its message names the group and the reason). */
export function agentFailure(e: unknown): ApiError {
  if (e instanceof AgentApiError) {
    const kind = e.status === 404 ? 'NotFound' : e.status === 503 || e.status === 502 ? 'Unavailable' : e.status >= 500 ? 'Internal' : e.code === 'IncorrectStatus' ? 'Conflict' : 'InvalidInput';
    return new ApiError(kind, e.code, e.message);
  }
  return new ApiError('Internal', 'InternalError', e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------------------------------------------
// Listing (DescribeContainerGroups / Status / Events). This is the hot path: ids, name, status and
// vSwitch are SQL filters on indexed columns, paging is keyset on the row's seq (the opaque NextToken),
// and without a filter SQL cannot apply only the rows of one page are read.

export interface GroupFilters {
  regionId: string;
  ids?: readonly string[];
  name?: string;
  status?: string;
  vSwitchId?: string;
  zoneId?: string;
  securityGroupId?: string;
  resourceGroupId?: string;
  tags?: readonly { Key: string; Value?: string }[];
  /** RFC 3339: only groups whose status changed at or after it. */
  statusSince?: string;
}

/** The wire parameters of the list filters the three Describe actions share (read by groupFiltersOf). */
export const groupFilterParams = {
  RegionId: p.string({ required: true }),
  ContainerGroupIds: p.jsonList({ max: 20 }),
  ZoneId: p.string(),
  VSwitchId: p.string(),
  ResourceGroupId: p.string(),
  Tag: tagsParam,
};

/** `SinceSecond` of DescribeContainerGroupStatus and DescribeContainerGroupEvents (bounded so the date stays valid). */
export const sinceSecondParam = p.int({ min: 1, max: 2_147_483_647 });

/** The RFC 3339 time `seconds` before `now` (a SinceSecond window's start). */
export const secondsBefore = (now: Date, seconds: number): string => rfc3339(new Date(now.getTime() - seconds * 1000));

/** The list filters the three Describe actions share, from their wire parameters (empty means unset). */
export function groupFiltersOf(params: {
  RegionId: string;
  ContainerGroupIds?: readonly string[];
  VSwitchId?: string;
  ZoneId?: string;
  ResourceGroupId?: string;
  Tag?: readonly { Key: string; Value?: string }[];
}): GroupFilters {
  return {
    regionId: params.RegionId,
    ids: params.ContainerGroupIds?.length ? params.ContainerGroupIds : undefined,
    vSwitchId: params.VSwitchId || undefined,
    zoneId: params.ZoneId || undefined,
    resourceGroupId: params.ResourceGroupId || undefined,
    tags: params.Tag,
  };
}

export interface GroupPage {
  items: Resource<ContainerGroupData>[];
  total: number;
  /** '' when this is the last page. */
  nextToken: string;
}

export function parseNextToken(token: string | undefined): number | undefined {
  if (token === undefined || token === '') return undefined;
  if (!/^\d{1,15}$/.test(token)) throw invalidParameter('NextToken', 'Use the NextToken of a previous response.');
  return Number(token);
}

/** `lazyData`: the items decode their data only when read (ListQuery.lazyData; for renderContainerGroup). */
export async function listGroups(tx: Tx, account: string, f: GroupFilters, limit: number, nextToken: string | undefined, lazyData = false): Promise<GroupPage> {
  const after = parseNextToken(nextToken);
  const q = { kind: KIND.containerGroup, account, region: f.regionId, ids: f.ids, name: f.name, status: f.status, parent: f.vSwitchId, lazyData };
  const inMemory = f.zoneId !== undefined || f.securityGroupId !== undefined || f.resourceGroupId !== undefined || (f.tags?.length ?? 0) > 0 || f.statusSince !== undefined;
  if (!inMemory) {
    const rows = await tx.list<ContainerGroupData>({ ...q, afterSeq: after, limit: limit + 1 });
    const items = rows.slice(0, limit);
    const more = rows.length > limit;
    const total = after === undefined && !more ? rows.length : await tx.count(q);
    return { items, total, nextToken: more ? String(items[items.length - 1].seq) : '' };
  }
  // Filters on the JSON data: read the rows SQL narrows to (bounded by the per-region quota) and filter.
  const matching = (await tx.list<ContainerGroupData>(q)).filter((r) => {
    const d = r.data;
    if (f.zoneId !== undefined && d.ZoneId !== f.zoneId) return false;
    if (f.securityGroupId !== undefined && !d.SecurityGroupIds.includes(f.securityGroupId)) return false;
    if (f.resourceGroupId !== undefined && d.ResourceGroupId !== f.resourceGroupId) return false;
    if (f.statusSince !== undefined && d.StatusTime < f.statusSince) return false;
    return matchesTags(d.Tags, f.tags);
  });
  const rest = after === undefined ? matching : matching.filter((r) => r.seq > after);
  const items = rest.slice(0, limit);
  return { items, total: matching.length, nextToken: rest.length > limit ? String(items[items.length - 1].seq) : '' };
}

/** The latest `perGroup` events of each group, oldest first, in one query. */
export async function latestEvents(tx: Tx, groupIds: readonly string[], perGroup = 50): Promise<Map<string, StoredEvent[]>> {
  const out = new Map<string, StoredEvent[]>(groupIds.map((id) => [id, []]));
  if (groupIds.length === 0) return out;
  for (const e of await tx.listEvents(groupIds, 0, 10_000)) out.get(e.resourceId)?.push(e);
  for (const [id, list] of out) if (list.length > perGroup) out.set(id, list.slice(list.length - perGroup));
  return out;
}
