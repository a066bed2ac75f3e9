// Durability: `kill -9` of `eci server` in the middle of a stream of writes loses nothing that was
// acknowledged and duplicates nothing when clients retry with their ClientTokens. Run on node:sqlite
// and on PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIp } from '../../src/core/cidr.ts';
import { PUBLIC_IP_SCOPE } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { $Vpc, VpcClient } from '../helpers/sdk.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const TOTAL = 300;
const WORKERS = 8;
const KILL_AFTER = 120;

interface Op {
  readonly token: string;
  readonly kind: 'vpc' | 'eip';
}

const OPS: readonly Op[] = Array.from({ length: TOTAL }, (_, i) =>
  i % 2 ? { token: `crash-eip-${i}`, kind: 'eip' as const } : { token: `crash-vpc-${i}`, kind: 'vpc' as const },
);

/** Sends the op; resolves to the id it created (or had created under the same token). */
async function send(vpc: VpcClient, op: Op): Promise<string> {
  if (op.kind === 'vpc') {
    const r = await vpc.createVpc(new $Vpc.CreateVpcRequest({ regionId: REGION, cidrBlock: '10.0.0.0/16', vpcName: op.token, clientToken: op.token }));
    return r.body!.vpcId!;
  }
  const r = await vpc.allocateEipAddress(new $Vpc.AllocateEipAddressRequest({ regionId: REGION, bandwidth: '5', name: op.token, clientToken: op.token }));
  return r.body!.allocationId!;
}

/** An answer from the server (an API error) rather than a dead connection. */
const isApiAnswer = (e: any): boolean => typeof e?.statusCode === 'number';

async function bounded<T>(items: readonly T[], workers: number, fn: (item: T) => Promise<boolean>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < items.length) if (!(await fn(items[next++]))) return;
    }),
  );
}

async function listAll(vpc: VpcClient): Promise<{ vpcs: Map<string, string>; eips: Map<string, { name: string; ip: string }> }> {
  const vpcs = new Map<string, string>();
  for (let page = 1; page <= 20; page++) {
    const r = await vpc.describeVpcs(new $Vpc.DescribeVpcsRequest({ regionId: REGION, pageNumber: page, pageSize: 50 }));
    for (const v of r.body!.vpcs!.vpc ?? []) vpcs.set(v.vpcId!, v.vpcName!);
    if (vpcs.size >= r.body!.totalCount!) break;
  }
  const eips = new Map<string, { name: string; ip: string }>();
  for (let page = 1; page <= 20; page++) {
    const r = await vpc.describeEipAddresses(new $Vpc.DescribeEipAddressesRequest({ regionId: REGION, pageNumber: page, pageSize: 100 }));
    for (const e of r.body!.eipAddresses!.eipAddress ?? []) eips.set(e.allocationId!, { name: e.name!, ip: e.ipAddress! });
    if (eips.size >= r.body!.totalCount!) break;
  }
  return { vpcs, eips };
}

function crashSuite(dialect: 'sqlite' | 'postgres', storeUrl: () => string | undefined): void {
  describe(`kill -9 during writes on ${dialect}`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ storeUrl: storeUrl(), config: { quotas: { vpcs: 1000, eips: 1000 } } });
    });
    after(() => server.close());

    it('loses nothing acknowledged, duplicates nothing on retry, leaks no address', async () => {
      const key = server.key('alice');
      const first = new VpcClient(server.sdkConfig(key));
      const acked = new Map<string, string>();
      const sent = new Set<string>();
      const unexpected: unknown[] = [];
      let killing: Promise<void> | undefined;
      await bounded(OPS, WORKERS, async (op) => {
        if (killing) return false;
        sent.add(op.token);
        try {
          acked.set(op.token, await send(first, op));
        } catch (e) {
          if (isApiAnswer(e)) unexpected.push(e);
          return false;
        }
        if (acked.size >= KILL_AFTER && !killing) killing = server.stop(true);
        return true;
      });
      await killing;
      assert.deepEqual(unexpected, []);
      assert.ok(acked.size >= KILL_AFTER && acked.size < TOTAL, `killed mid-stream (${acked.size} acknowledged)`);
      const unacked = OPS.filter((op) => sent.has(op.token) && !acked.has(op.token));
      const neverSent = OPS.filter((op) => !sent.has(op.token));
      assert.ok(neverSent.length > 0, 'the kill stopped the stream');

      await server.restart();
      const vpc = new VpcClient(server.sdkConfig(key));
      const listedBefore = await listAll(vpc);
      // Every acknowledged create survived, under the id that was acknowledged.
      for (const op of OPS) {
        const id = acked.get(op.token);
        if (id === undefined) continue;
        const name = op.kind === 'vpc' ? listedBefore.vpcs.get(id) : listedBefore.eips.get(id)?.name;
        assert.equal(name, op.token, `${op.token} (${id}) was acknowledged and must exist`);
      }
      // Besides those, only requests in flight at the kill may have committed.
      const committedUnacked = [...listedBefore.vpcs.values(), ...[...listedBefore.eips.values()].map((e) => e.name)].filter((n) => !acked.has(n));
      for (const name of committedUnacked) assert.ok(unacked.some((op) => op.token === name), `${name} committed but was never in flight`);
      assert.equal(listedBefore.vpcs.size + listedBefore.eips.size, acked.size + committedUnacked.length);

      // Every client retries every request with its token, as a client that lost its answer would.
      const returned = new Map<string, string>();
      await bounded(OPS, WORKERS, async (op) => {
        for (let attempt = 1; ; attempt++) {
          try {
            returned.set(op.token, await send(vpc, op));
            return true;
          } catch (e) {
            if (isApiAnswer(e) || attempt === 3) throw e;
          }
        }
      });
      for (const [token, id] of acked) assert.equal(returned.get(token), id, `retrying ${token} returns the acknowledged id`);
      const listedAfter = await listAll(vpc);
      for (const op of OPS) {
        const id = returned.get(op.token)!;
        const name = op.kind === 'vpc' ? listedAfter.vpcs.get(id) : listedAfter.eips.get(id)?.name;
        assert.equal(name, op.token);
      }
      // One row per distinct token: the rows committed before the kill were adopted by their retries.
      assert.equal(listedAfter.vpcs.size, OPS.filter((op) => op.kind === 'vpc').length);
      assert.equal(listedAfter.eips.size, OPS.filter((op) => op.kind === 'eip').length);
      for (const id of [...listedBefore.vpcs.keys(), ...listedBefore.eips.keys()]) assert.ok(listedAfter.vpcs.has(id) || listedAfter.eips.has(id));

      // IPAM: one allocation per EIP, owned by it, none twice, none leaked.
      const ips = [...listedAfter.eips.values()].map((e) => e.ip);
      assert.equal(new Set(ips).size, ips.length);
      const store = await openStore(server.storeUrl);
      try {
        assert.equal(await store.countIps(PUBLIC_IP_SCOPE), listedAfter.eips.size);
        for (const [id, e] of listedAfter.eips) assert.equal(await store.ipOwner(PUBLIC_IP_SCOPE, parseIp(e.ip)!), id);
      } finally {
        await store.close();
      }
    });
  });
}

crashSuite('sqlite', () => undefined);

let pg: TestPostgres | undefined;
describe('PostgreSQL', () => {
  before(async () => {
    pg = await startPostgres();
  });
  after(() => pg?.stop());
  crashSuite('postgres', () => pg!.createDatabase('crash'));
});
