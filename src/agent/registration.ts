// The agent's side of the host row: its identity, registration at start, and heartbeats.
//
// Contracts:
// - A host keeps its id across agent restarts: ensureHostId persists it in the agent's state dir, and
//   registerHost is an idempotent upsert on that id, so a restarted agent finds its own groups again.
// - The agent writes only observed facts about its host (capacity, endpoint, version, LastHeartbeat).
//   Status is the host controller's (src/controllers/hosts.ts), derived from LastHeartbeat: a new row
//   starts Ready, and a re-registering or heartbeating Unhealthy host becomes Ready on the next pass.
// - Every write is an optimistic-version update retried on conflict: placement bumps the host row's
//   version when it puts a group there (that is its overcommit guard), so conflicts are expected.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError, invalid } from '../core/errors.ts';
import { newId, type RandomBytes } from '../core/ids.ts';
import { KIND, SYSTEM_ACCOUNT, type HostData } from '../core/model.ts';
import { rfc3339 } from '../core/time.ts';
import type { Resource, Store } from '../store/store.ts';

const HOST_ID = /^host-[a-z2-7]{20}$/;
const HOST_ID_FILE = 'host-id';
const MAX_ATTEMPTS = 10;

/**
 * The host id stored in `<stateDir>/host-id`, created on first use. The file is written to a
 * temporary name and renamed, so a crash never leaves a half-written id.
 */
export async function ensureHostId(stateDir: string, random: RandomBytes): Promise<string> {
  const file = join(stateDir, HOST_ID_FILE);
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (!HOST_ID.test(id)) throw new Error(`${file} holds "${id}", which is not a host id; remove the file to get a new one.`);
    return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(stateDir, { recursive: true });
  const id = newId('host', random);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, id + '\n', { mode: 0o644 });
  await rename(tmp, file);
  return id;
}

export interface HostRegistration {
  readonly hostId: string;
  readonly zoneId: string;
  readonly regionId: string;
  /** Capacity offered to container groups: vCPU and GiB. */
  readonly cpu: number;
  readonly memory: number;
  /** host:port of the agent's local API, or ''. */
  readonly agentEndpoint: string;
  readonly version?: string;
}

function checkRegistration(r: HostRegistration): void {
  if (!HOST_ID.test(r.hostId)) throw invalid('InvalidHostId.Malformed', `"${r.hostId}" is not a host id (host-<20 base-32 characters>).`);
  if (!r.zoneId || !r.regionId) throw invalid('InvalidZoneId.Malformed', 'A host needs a region and a zone.');
  if (!(r.cpu > 0) || !(r.memory > 0)) throw invalid('InvalidCapacity', `A host needs positive capacity (got ${r.cpu} vCPU, ${r.memory} GiB).`);
}

/** Runs fn until it does not hit an optimistic-version conflict (bounded). */
async function retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'OperationConflict') || attempt >= MAX_ATTEMPTS) throw e;
    }
  }
}

/**
 * Creates the host row, or updates the existing one (same id: an agent restart) with the capacity,
 * zone, endpoint and version given now and a fresh heartbeat. Idempotent. RegisteredTime is the first
 * registration's; Status is left to the host controller, except that a new row starts Ready.
 */
export async function registerHost(store: Store, reg: HostRegistration, now = new Date()): Promise<Resource<HostData>> {
  checkRegistration(reg);
  const nowText = rfc3339(now);
  return retryOnConflict(() =>
    store.tx(async (tx) => {
      const existing = await tx.get<HostData>(KIND.host, reg.hostId);
      if (!existing) {
        const data: HostData = {
          HostId: reg.hostId,
          ZoneId: reg.zoneId,
          RegionId: reg.regionId,
          Cpu: reg.cpu,
          Memory: reg.memory,
          Status: 'Ready',
          LastHeartbeat: nowText,
          AgentEndpoint: reg.agentEndpoint,
          Version: reg.version ?? '',
          RegisteredTime: nowText,
        };
        return tx.insert({ kind: KIND.host, id: reg.hostId, account: SYSTEM_ACCOUNT, region: reg.regionId, name: reg.hostId, status: 'Ready', parent: reg.zoneId, createdAt: nowText, data });
      }
      if (existing.region !== reg.regionId)
        throw invalid('InvalidRegionId.Mismatch', `Host ${reg.hostId} is registered in ${existing.region}; a host cannot move to ${reg.regionId} (remove its state dir to register a new host).`);
      existing.parent = reg.zoneId;
      existing.data = {
        ...existing.data,
        ZoneId: reg.zoneId,
        Cpu: reg.cpu,
        Memory: reg.memory,
        AgentEndpoint: reg.agentEndpoint,
        Version: reg.version ?? existing.data.Version,
        LastHeartbeat: nowText,
      };
      return tx.update(existing);
    }, `host:${reg.hostId}`),
  );
}

/**
 * Records that the host is alive at `now`. Returns false when the host has no row (it was never
 * registered, or an operator removed it): the agent then registers again.
 */
export async function heartbeat(store: Store, hostId: string, now = new Date()): Promise<boolean> {
  const nowText = rfc3339(now);
  return retryOnConflict(() =>
    store.tx(async (tx) => {
      const host = await tx.get<HostData>(KIND.host, hostId);
      if (!host) return false;
      // A clock step backwards must not make the host look older than it was.
      if (host.data.LastHeartbeat >= nowText) return true;
      host.data = { ...host.data, LastHeartbeat: nowText };
      await tx.update(host);
      return true;
    }),
  );
}
