// The sandbox host namespace used by `eci dev` and tests (`eci-host-<id>`): the "public side" of a
// host that never touches the machine's own namespace. Production agents use their own namespace and
// never call these.
//
// Contracts: `ensureSandboxHost` is idempotent; `destroySandboxHost` deletes the namespace and every
// "Internet" client attached to it, and succeeds when they are already gone.

import { createHash } from 'node:crypto';
import { writeSysctls } from './apply.ts';
import { ExecError, ipBatch, json, run } from './exec.ts';
import { hostNetnsName } from './names.ts';

async function netnsAdd(name: string): Promise<void> {
  try {
    await run(['ip', 'netns', 'add', name]);
  } catch (e) {
    if (!(e instanceof ExecError && /File exists/.test(e.stderr))) throw e;
  }
}

async function netnsDel(name: string): Promise<void> {
  try {
    await run(['ip', 'netns', 'del', name]);
  } catch (e) {
    if (!(e instanceof ExecError && /No such file/.test(e.stderr))) throw e;
  }
}

/** Creates (or finds) the host netns of `hostId`: lo up, IPv4 forwarding on. Returns its name. */
export async function ensureSandboxHost(hostId: string): Promise<string> {
  const name = hostNetnsName(hostId);
  await netnsAdd(name);
  await ipBatch(name, ['link set lo up']);
  await writeSysctls(name, { 'net.ipv4.ip_forward': '1' });
  return name;
}

/** Deletes the host netns (links inside it go with it; the routers' uplinks are deleted by the agent). */
export async function destroySandboxHost(hostId: string): Promise<void> {
  const name = hostNetnsName(hostId);
  // Delete links first: namespace teardown is asynchronous, deleting a veth (and so its peer) is not.
  const links = await json<{ ifname: string }[]>(name, ['ip', '-j', 'link']).catch(() => []);
  const lines = links.filter((l) => l.ifname !== 'lo').map((l) => `link del ${l.ifname}`);
  if (lines.length) await run(['ip', '-force', '-batch', '-'], { netns: name, input: lines.join('\n') + '\n' }).catch(() => undefined);
  await netnsDel(name);
}

export interface InternetClient {
  /** The client namespace (`<hostShort>-inet-<n>`; carries the host prefix so leftover listings see it). */
  readonly netns: string;
  /** The client's address, e.g. `198.51.100.2`. */
  readonly ip: string;
  /** The host's address on that link, the client's default gateway. */
  readonly gateway: string;
  readonly prefix: number;
}

/**
 * Tests only: attaches an "Internet" client namespace to the host netns with a documentation-range /24
 * (`cidr24` like `198.51.100.0`): host side .1, client .2, client default route via .1. Nothing routes
 * off the machine: the host netns has no other way out.
 */
export async function attachInternetClient(hostId: string, cidr24 = '198.51.100.0', index = 0): Promise<InternetClient> {
  const hostNs = hostNetnsName(hostId);
  const short = hostNs.slice('eci-host-'.length);
  const netns = `${short}-inet-${index}`;
  const h = createHash('sha256').update(`${hostId}\0inet\0${index}`).digest('hex').slice(0, 10);
  const base = cidr24.split('.').slice(0, 3).join('.');
  const gateway = `${base}.1`;
  const ip = `${base}.2`;
  await netnsAdd(netns);
  await ipBatch(hostNs, [`link add i${h} type veth peer name eth0 netns ${netns}`, `addr add ${gateway}/24 dev i${h}`, `link set i${h} up`]);
  await ipBatch(netns, ['link set lo up', `addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${gateway} dev eth0`]);
  return { netns, ip, gateway, prefix: 24 };
}

/** Removes an Internet client (its veth goes first, synchronously). */
export async function detachInternetClient(client: InternetClient): Promise<void> {
  await run(['ip', '-force', '-batch', '-'], { netns: client.netns, input: 'link del eth0\n' }).catch(() => undefined);
  await netnsDel(client.netns);
}
