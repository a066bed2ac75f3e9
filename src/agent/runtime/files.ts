// Per-group files every container of a group shares: /etc/hosts, /etc/resolv.conf, /etc/hostname, and the
// volume directories (emptyDir, ConfigFileVolume). The renderers are pure; `ensureGroupFiles` writes them.
//
// Layout under the group directory (`<state>/groups/<groupId>/`):
//   etc/hosts, etc/resolv.conf, etc/hostname
//   volumes/<volume name>/           emptyDir (a tmpfs mount when Medium is Memory) or ConfigFileVolume files
//
// Contracts:
// - `ensureGroupFiles` is idempotent and safe while the group's containers run (it is called before every
//   container start): files are rewritten in place, keeping the inodes the containers' bind mounts hold;
//   an emptyDir keeps its content (it lives as long as the group, like a pod's emptyDir); ConfigFileVolume
//   files are rewritten from the spec when their content differs (files dropped from the spec stay until
//   the group is removed).
// - `removeGroupFiles` unmounts memory-backed emptyDirs and deletes the directory; it succeeds when gone.

import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { ContainerGroupData, DnsConfigSpec } from '../../core/model.ts';
import { groupHostname } from './bundle.ts';
import { isMounted, unmount } from './rootfs.ts';
import { run } from '../net/exec.ts';

export interface GroupFiles {
  readonly hostsFile: string;
  readonly resolvConfFile: string;
  readonly hostnameFile: string;
  readonly volumeDirs: Record<string, string>;
}

export function groupFilePaths(groupDir: string, group: Pick<ContainerGroupData, 'Volumes'>): GroupFiles {
  const volumeDirs: Record<string, string> = {};
  for (const v of group.Volumes) volumeDirs[v.Name] = join(groupDir, 'volumes', v.Name);
  return {
    hostsFile: join(groupDir, 'etc', 'hosts'),
    resolvConfFile: join(groupDir, 'etc', 'resolv.conf'),
    hostnameFile: join(groupDir, 'etc', 'hostname'),
    volumeDirs,
  };
}

export function renderHosts(group: Pick<ContainerGroupData, 'IntranetIp' | 'HostAliases' | 'HostName' | 'ContainerGroupName'>): string {
  const lines = [
    '# Managed by OpenECI: rewritten when the group changes.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  if (group.IntranetIp) lines.push(`${group.IntranetIp}\t${groupHostname(group)}`);
  if (group.HostAliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of group.HostAliases) lines.push(`${a.Ip}\t${a.Hostnames.join('\t')}`);
  }
  return lines.join('\n') + '\n';
}

/** Parses the nameserver/search/options lines of a resolv.conf (the host's, for DnsPolicy '' and Default). */
export function parseResolvConf(text: string): DnsConfigSpec {
  const out: DnsConfigSpec = { NameServers: [], Searches: [], Options: [] };
  for (const raw of text.split('\n')) {
    const [key, ...rest] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.NameServers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.Searches.push(...rest);
    else if (key === 'options')
      for (const o of rest) {
        const colon = o.indexOf(':');
        out.Options.push(colon > 0 ? { Name: o.slice(0, colon), Value: o.slice(colon + 1) } : { Name: o, Value: '' });
      }
  }
  return out;
}

/** Kubernetes' resolver limits: the libc reads at most 3 nameservers; searches are capped at 32. */
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

/**
 * DnsPolicy '' (the platform's resolver) and Default (the host's): `base` with DnsConfig merged in after it;
 * None: DnsConfig alone. Options with the same name: DnsConfig wins. Until a platform DNS exists, the
 * platform's resolver is the host's.
 */
export function renderResolvConf(group: Pick<ContainerGroupData, 'DnsPolicy' | 'DnsConfig'>, base: DnsConfigSpec): string {
  const from = group.DnsPolicy === 'None' ? { NameServers: [], Searches: [], Options: [] } : base;
  const servers = [...new Set([...from.NameServers, ...group.DnsConfig.NameServers])].slice(0, MAX_NAMESERVERS);
  const searches = [...new Set([...from.Searches, ...group.DnsConfig.Searches])].slice(0, MAX_SEARCHES);
  const options = new Map<string, string>();
  for (const o of [...from.Options, ...group.DnsConfig.Options]) options.set(o.Name, o.Value);
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const s of servers) lines.push(`nameserver ${s}`);
  if (options.size) lines.push(`options ${[...options].map(([n, v]) => (v ? `${n}:${v}` : n)).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** A Kubernetes quantity (`256Mi`, `1G`, `1000`) in bytes. */
export function quantityBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(q);
  if (!m) throw new Error(`"${q}" is not a quantity.`);
  const mult: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Math.round(Number(m[1]) * mult[m[2] ?? '']);
}

/** A ConfigFileVolume path joined under its volume dir; refuses escapes (the API validates too). */
export function configFilePath(volumeDir: string, relPath: string): string {
  const rel = normalize(relPath).replace(/^\/+/, '');
  if (!rel || rel === '.' || rel.split('/').includes('..')) throw new Error(`Config file path "${relPath}" leaves its volume.`);
  return join(volumeDir, rel);
}

export async function ensureGroupFiles(groupDir: string, group: ContainerGroupData, hostResolvConf: DnsConfigSpec): Promise<GroupFiles> {
  const files = groupFilePaths(groupDir, group);
  mkdirSync(join(groupDir, 'etc'), { recursive: true });
  writeFileSync(files.hostsFile, renderHosts(group));
  writeFileSync(files.resolvConfFile, renderResolvConf(group, hostResolvConf));
  writeFileSync(files.hostnameFile, groupHostname(group) + '\n');
  for (const v of group.Volumes) {
    const dir = files.volumeDirs[v.Name];
    if (v.Type === 'EmptyDirVolume') {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o777);
      if (v.EmptyDirVolume?.Medium === 'Memory' && !isMounted(dir)) {
        const size = v.EmptyDirVolume.SizeLimit ? `,size=${quantityBytes(v.EmptyDirVolume.SizeLimit)}` : '';
        await run(['mount', '-t', 'tmpfs', '-o', `mode=0777${size}`, 'tmpfs', dir]);
      }
    } else {
      // Written in place, and only when changed: running containers bind-mount this directory (or, with
      // SubPath, a single file), so the directory and file inodes must stay the same.
      mkdirSync(dir, { recursive: true });
      const cf = v.ConfigFileVolume ?? { DefaultMode: 0o644, ConfigFileToPaths: [] };
      for (const f of cf.ConfigFileToPaths) {
        const path = configFilePath(dir, f.Path);
        const content = Buffer.from(f.Content, 'base64');
        mkdirSync(dirname(path), { recursive: true });
        if (!existsSync(path) || !readFileSync(path).equals(content)) writeFileSync(path, content);
        chmodSync(path, f.Mode ?? cf.DefaultMode);
      }
    }
  }
  return files;
}

export async function removeGroupFiles(groupDir: string): Promise<void> {
  const volumes = join(groupDir, 'volumes');
  if (existsSync(volumes)) {
    const prefix = volumes + '/';
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m?.startsWith(prefix));
    for (const m of mounted) await unmount(m);
  }
  rmSync(groupDir, { recursive: true, force: true });
}
