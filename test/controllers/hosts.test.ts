// Host registration, heartbeats and the host controller against a real SQLite store.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ensureHostId, heartbeat, registerHost, type HostRegistration } from '../../src/agent/registration.ts';
import { DEFAULT_CONFIG } from '../../src/core/config.ts';
import { ApiError } from '../../src/core/errors.ts';
import { KIND, SYSTEM_ACCOUNT, type ContainerGroupData, type HostData, type HostStatus } from '../../src/core/model.ts';
import { hostController, syncHost } from '../../src/controllers/hosts.ts';
import { openStore, type SqlStore } from '../../src/store/sql-store.ts';

const REGION = 'cn-hangzhou';
const H = 'cn-hangzhou-h';
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const HOST_A = 'host-aaaaaaaaaaaaaaaaaaaa';
const HOST_B = 'host-bbbbbbbbbbbbbbbbbbbb';

const reg = (over: Partial<HostRegistration> = {}): HostRegistration => ({
  hostId: HOST_A, zoneId: H, regionId: REGION, cpu: 8, memory: 16, agentEndpoint: '127.0.0.1:7070', version: '0.1.0', ...over,
});

async function withStore(fn: (store: SqlStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hosts-'));
  const store = await openStore(join(dir, 's.db'));
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A container group row carrying only what the host controller reads (its status and host). */
async function insertGroup(store: SqlStore, id: string, status: string, hostId: string, hostStatus?: HostStatus, account = 'acct') {
  const data = { ContainerGroupId: id, HostId: hostId, ...(hostStatus ? { HostStatus: hostStatus } : {}) } as Partial<ContainerGroupData>;
  await store.insert({ kind: KIND.containerGroup, id, account, region: REGION, name: id, status, parent: 'vsw-1', createdAt: '2026-01-01T00:00:00Z', data });
}
const group = (store: SqlStore, id: string) => store.get<ContainerGroupData>(KIND.containerGroup, id).then((g) => g!);
const host = (store: SqlStore, id = HOST_A) => store.get<HostData>(KIND.host, id).then((h) => h!);
const events = async (store: SqlStore, id: string) => (await store.listEvents([id])).map((e) => [e.type, e.reason, e.count]);

describe('host registration', () => {
  it('creates a system row, Ready, in its region and zone', async () => {
    await withStore(async (store) => {
      const h = await registerHost(store, reg(), T0);
      assert.deepEqual([h.kind, h.id, h.account, h.region, h.parent, h.status, h.name], [KIND.host, HOST_A, SYSTEM_ACCOUNT, REGION, H, 'Ready', HOST_A]);
      assert.deepEqual(h.data, {
        HostId: HOST_A, ZoneId: H, RegionId: REGION, Cpu: 8, Memory: 16, Status: 'Ready', LastHeartbeat: '2026-01-01T00:00:00Z',
        AgentEndpoint: '127.0.0.1:7070', Version: '0.1.0', RegisteredTime: '2026-01-01T00:00:00Z',
      });
      assert.deepEqual(await store.list({ kind: KIND.host, account: 'acct' }), [], 'tenants never see host rows');
    });
  });

  it('is an idempotent upsert: an agent restart keeps the row, its id and RegisteredTime', async () => {
    await withStore(async (store) => {
      const first = await registerHost(store, reg(), T0);
      const again = await registerHost(store, reg({ cpu: 16, memory: 32, agentEndpoint: '127.0.0.1:7071', version: '0.2.0' }), at(60_000));
      assert.equal(again.id, first.id);
      assert.equal(again.version, first.version + 1);
      const h = await host(store);
      assert.deepEqual([h.data.Cpu, h.data.Memory, h.data.AgentEndpoint, h.data.Version, h.data.LastHeartbeat, h.data.RegisteredTime], [16, 32, '127.0.0.1:7071', '0.2.0', '2026-01-01T00:01:00Z', '2026-01-01T00:00:00Z']);
      assert.equal(await store.count({ kind: KIND.host }), 1);
    });
  });

  it('refuses a malformed id, no capacity, and a move to another region', async () => {
    await withStore(async (store) => {
      const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof ApiError ? e.code : String(e)));
      assert.equal(await code(registerHost(store, reg({ hostId: 'host-1' }))), 'InvalidHostId.Malformed');
      assert.equal(await code(registerHost(store, reg({ cpu: 0 }))), 'InvalidCapacity');
      await registerHost(store, reg(), T0);
      assert.equal(await code(registerHost(store, reg({ regionId: 'cn-beijing' }))), 'InvalidRegionId.Mismatch');
      assert.equal(await store.count({ kind: KIND.host }), 1);
    });
  });

  it('persists the host id in the state dir across restarts', async () => {
    await withStore(async (_store, dir) => {
      const stateDir = join(dir, 'state', 'agent');
      const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
      const id = await ensureHostId(stateDir, bytes);
      assert.match(id, /^host-[a-z2-7]{20}$/);
      assert.equal(readFileSync(join(stateDir, 'host-id'), 'utf8'), id + '\n');
      // A restart with other randomness still reads the same id.
      assert.equal(await ensureHostId(stateDir, (n) => new Uint8Array(n).fill(7)), id);
      writeFileSync(join(stateDir, 'host-id'), 'garbage\n');
      await assert.rejects(ensureHostId(stateDir, bytes), /not a host id/);
    });
  });

  it('heartbeats move LastHeartbeat forward only, and tell an unregistered agent to register', async () => {
    await withStore(async (store) => {
      await registerHost(store, reg(), T0);
      assert.equal(await heartbeat(store, HOST_A, at(2_000)), true);
      assert.equal((await host(store)).data.LastHeartbeat, '2026-01-01T00:00:02Z');
      const v = (await host(store)).version;
      assert.equal(await heartbeat(store, HOST_A, at(1_000)), true);
      assert.equal((await host(store)).version, v, 'an older heartbeat writes nothing');
      assert.equal(await heartbeat(store, HOST_B, at(2_000)), false);
    });
  });
});

describe('host controller', () => {
  it('marks a silent host Unhealthy after 15 s; its groups keep their status and gain HostStatus and one Warning', async () => {
    await withStore(async (store) => {
      await registerHost(store, reg(), T0);
      await registerHost(store, reg({ hostId: HOST_B }), T0);
      await insertGroup(store, 'eci-run', 'Running', HOST_A, 'Ready');
      await insertGroup(store, 'eci-pend', 'Pending', HOST_A, 'Ready', 'other');
      await insertGroup(store, 'eci-done', 'Succeeded', HOST_A, 'Ready');
      await insertGroup(store, 'eci-b', 'Running', HOST_B, 'Ready');
      const ctl = hostController({ store, config: DEFAULT_CONFIG }, { sweepEveryMs: 0 });

      // B keeps beating; A falls silent.
      await heartbeat(store, HOST_B, at(14_000));
      await ctl.reconcile(at(14_999));
      assert.equal((await host(store)).status, 'Ready');
      assert.equal((await group(store, 'eci-run')).version, 1, 'nothing written before the limit');

      await ctl.reconcile(at(15_000));
      const a = await host(store);
      assert.deepEqual([a.status, a.data.Status], ['Unhealthy', 'Unhealthy']);
      assert.equal((await host(store, HOST_B)).status, 'Ready');
      for (const [id, status] of [['eci-run', 'Running'], ['eci-pend', 'Pending']]) {
        const g = await group(store, id);
        assert.deepEqual([g.status, g.data.HostId, g.data.HostStatus], [status, HOST_A, 'Unhealthy'], `${id} is neither lost nor moved`);
        assert.deepEqual(await events(store, id), [['Warning', 'HostUnhealthy', 1]]);
      }
      const ev = (await store.listEvents(['eci-run']))[0];
      assert.match(ev.message, new RegExp(`Host ${HOST_A} has not reported since 2026-01-01T00:00:00Z`));
      assert.equal((await group(store, 'eci-done')).data.HostStatus, 'Ready', 'a finished group is left alone');
      assert.deepEqual(await events(store, 'eci-done'), []);
      assert.equal((await group(store, 'eci-b')).data.HostStatus, 'Ready');

      // Converged: further passes (sweeps included) add no event and write nothing.
      const before = (await group(store, 'eci-run')).version;
      await ctl.reconcile(at(20_000));
      await ctl.reconcile(at(25_000));
      assert.equal((await group(store, 'eci-run')).version, before);
      assert.deepEqual(await events(store, 'eci-run'), [['Warning', 'HostUnhealthy', 1]]);

      // Heartbeats resume: Ready again, and the groups say so.
      await heartbeat(store, HOST_A, at(30_000));
      await ctl.reconcile(at(30_500));
      assert.equal((await host(store)).status, 'Ready');
      const g = await group(store, 'eci-run');
      assert.deepEqual([g.status, g.data.HostStatus], ['Running', 'Ready']);
      assert.deepEqual(await events(store, 'eci-run'), [['Warning', 'HostUnhealthy', 1], ['Normal', 'HostReady', 1]]);
    });
  });

  it('honours a configured silence limit', async () => {
    await withStore(async (store) => {
      await registerHost(store, reg(), T0);
      const ctl = hostController({ store, config: DEFAULT_CONFIG }, { unhealthyAfterMs: 3_000 });
      await ctl.reconcile(at(2_999));
      assert.equal((await host(store)).status, 'Ready');
      await ctl.reconcile(at(3_000));
      assert.equal((await host(store)).status, 'Unhealthy');
    });
  });

  it('a re-registering agent is Ready again on the next pass', async () => {
    await withStore(async (store) => {
      await registerHost(store, reg(), T0);
      const ctl = hostController({ store, config: DEFAULT_CONFIG });
      await ctl.reconcile(at(60_000));
      assert.equal((await host(store)).status, 'Unhealthy');
      await registerHost(store, reg(), at(61_000));
      assert.equal((await host(store)).status, 'Unhealthy', 'the agent does not set its own status');
      await ctl.reconcile(at(61_500));
      assert.equal((await host(store)).status, 'Ready');
    });
  });

  it('the sweep repairs a group whose HostStatus disagrees with its host', async () => {
    await withStore(async (store) => {
      await registerHost(store, reg(), T0);
      await insertGroup(store, 'eci-1', 'Running', HOST_A);
      const ctl = hostController({ store, config: DEFAULT_CONFIG }, { sweepEveryMs: 10_000 });
      await ctl.reconcile(at(1_000));
      assert.equal((await group(store, 'eci-1')).data.HostStatus, 'Ready');
      assert.deepEqual(await events(store, 'eci-1'), [], 'no event: the host was never Unhealthy');
    });
  });

  it('syncHost writes nothing for a converged or missing host', async () => {
    await withStore(async (store) => {
      await registerHost(store, reg(), T0);
      await insertGroup(store, 'eci-1', 'Running', HOST_A, 'Ready');
      assert.equal(await syncHost(store, HOST_A, at(1_000)), false);
      assert.equal(await syncHost(store, HOST_B, at(1_000)), false);
      assert.equal(await syncHost(store, HOST_A, at(16_000)), true);
      assert.equal(await syncHost(store, HOST_A, at(17_000)), false);
    });
  });
});
