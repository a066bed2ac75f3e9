// Kernel object names. Namespace names are machine-global and several "hosts" share one machine in
// tests, so each carries the host's short id. Interface names are limited to 15 characters, so they
// are a prefix letter plus a short hash of the owning ids: always recomputable, nothing to persist.

import { createHash } from 'node:crypto';

/** The part of an id after its prefix, shortened: `eci-2ze3x9abcd…` → `2ze3x9ab`. */
export function shortId(id: string, length = 8): string {
  const dash = id.indexOf('-');
  return (dash >= 0 ? id.slice(dash + 1) : id).slice(0, length);
}

function hash10(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 10);
}

export const hostNetnsName = (hostId: string): string => `eci-host-${shortId(hostId)}`;
export const routerNetnsName = (hostId: string, vpcId: string): string => `${shortId(hostId)}-vpcr-${shortId(vpcId)}`;
export const instanceNetnsName = (hostId: string, groupId: string): string => `${shortId(hostId)}-eci-${shortId(groupId)}`;
/** Whether a namespace name is an instance netns (instanceNetnsName's shape). */
export const isInstanceNetns = (name: string): boolean => /^[^-]+-eci-[^-]+$/.test(name);

/** The veth pair of an instance: `e…` inside the instance netns (renamed eth0 there), `r…` in the router. */
export const instanceVeth = (hostId: string, groupId: string) => {
  const h = hash10(hostId, groupId);
  return { instanceSide: `e${h}`, routerSide: `r${h}` };
};

/** The uplink veth pair of a VPC router: `u…` in the router netns, `h…` in the host netns. */
export const uplinkVeth = (hostId: string, vpcId: string) => {
  const h = hash10(hostId, vpcId);
  return { routerSide: `u${h}`, hostSide: `h${h}` };
};
