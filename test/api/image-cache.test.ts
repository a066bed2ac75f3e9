// ECI image caches through the official ECI SDK against `eci server` (SQLite and PostgreSQL), with the host agent's image-cache
// reconciler (src/agent/image-caches.ts) run on the server's store with an in-memory puller, so caches
// become Ready the way a host makes them Ready. Also CreateContainerGroup's ImageSnapshotId and
// AutoMatchImageCache.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createImageCacheSync, type CacheImagePuller } from '../../src/agent/image-caches.ts';
import { KIND, type ContainerGroupData, type ImageCacheData } from '../../src/core/model.ts';
import { openStore } from '../../src/store/sql-store.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { $Eci, EciClient } from '../helpers/sdk.ts';
import { rejection, startServer, type TestServer } from '../helpers/server.ts';

const REGION = 'cn-hangzhou';
const ZONE = 'cn-hangzhou-h';
const HOST = 'host-imagecachetestaaaa';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

type CreateFields = ConstructorParameters<typeof $Eci.CreateImageCacheRequest>[0];

/** A puller that succeeds for every image except those in `refuse`, and remembers what it pulled. */
function fakePuller(refuse: Record<string, string> = {}) {
  const pins = new Map<string, string[]>();
  const pulled: string[] = [];
  const puller: CacheImagePuller = {
    async pull(image) {
      pulled.push(image);
      if (refuse[image]) throw new Error(refuse[image]);
      return { digest: `sha256:${Buffer.from(image).toString('hex').padEnd(64, '0').slice(0, 64)}`, size: 1024 * 1024 };
    },
    pin: (id, digests) => void pins.set(id, digests),
    unpin: (id) => void pins.delete(id),
    pinnedCaches: () => [...pins.keys()],
  };
  return { puller, pins, pulled };
}

for (const storeKind of ['sqlite', 'postgres'] as const) {
  describe(`ECI image caches (${storeKind})`, () => {
    let server: TestServer;
    let pg: TestPostgres | undefined;
    let alice: EciClient;
    let bob: EciClient;
    const agentPuller = fakePuller({ 'registry.test:5000/private/denied:1': 'UNAUTHORIZED: authentication required' });

    /** One pass of a host agent's image-cache reconciler on the server's store. */
    const hostSync = async () => {
      const store = await openStore(server.storeUrl);
      try {
        await createImageCacheSync({ store, hostId: HOST, regionId: REGION, zoneId: ZONE, puller: agentPuller.puller }).sync();
      } finally {
        await store.close();
      }
    };
    const create = (eci: EciClient, fields: CreateFields) =>
      eci.createImageCache(new $Eci.CreateImageCacheRequest({ regionId: REGION, imageCacheName: 'cache-1', image: ['nginx:1.25'], ...fields })).then((r) => r.body!);
    const describeCaches = (eci: EciClient, fields: ConstructorParameters<typeof $Eci.DescribeImageCachesRequest>[0] = {}) =>
      eci.describeImageCaches(new $Eci.DescribeImageCachesRequest({ regionId: REGION, ...fields })).then((r) => r.body!);
    const one = async (eci: EciClient, id: string) => {
      const r = await describeCaches(eci, { imageCacheId: id });
      assert.equal(r.totalCount, 1, `expected ${id} to be listed`);
      return r.imageCaches![0];
    };
    const createGroup = (eci: EciClient, images: string[], fields: Record<string, unknown> = {}) =>
      eci
        .createContainerGroup(
          new $Eci.CreateContainerGroupRequest({
            regionId: REGION,
            containerGroupName: 'g1',
            container: images.map((image, i) => new $Eci.CreateContainerGroupRequestContainer({ name: `c${i}`, image })),
            ...fields,
          }),
        )
        .then((r) => r.body!.containerGroupId!);
    const groupData = async (id: string) => {
      const store = await openStore(server.storeUrl);
      try {
        return (await store.get<ContainerGroupData>(KIND.containerGroup, id))!.data;
      } finally {
        await store.close();
      }
    };
    const groupEvents = async (eci: EciClient, id: string) => {
      const r = await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
      return r.body!.containerGroups![0].events!.map((e) => ({ reason: e.reason, type: e.type, message: e.message }));
    };

    before(async () => {
      if (storeKind === 'postgres') pg = await startPostgres();
      server = await startServer(pg ? { storeUrl: pg.createDatabase('eci') } : {});
      alice = new EciClient(server.sdkConfig(server.key('alice')));
      bob = new EciClient(server.sdkConfig(server.key('bob'), { signatureAlgorithm: 'v2' }));
    });
    after(async () => {
      await server?.close();
      pg?.stop();
    });

    it('creates a cache, shows it Preparing, and a host agent makes it Ready with progress and events', async () => {
      const r = await create(alice, {
        imageCacheName: 'web-cache',
        image: ['nginx:1.25', 'registry.test:5000/team/app:v1', 'nginx:1.25'],
        imageRegistryCredential: [new $Eci.CreateImageCacheRequestImageRegistryCredential({ server: 'registry.test:5000', userName: 'tester', password: 'secret-pw' })],
        plainHttpRegistry: 'registry.test:5000',
        imageCacheSize: 40,
        retentionDays: 7,
        zoneId: ZONE,
        resourceGroupId: 'rg-1',
        tag: [new $Eci.CreateImageCacheRequestTag({ key: 'env', value: 'dev' })],
      });
      assert.match(r.imageCacheId!, /^imc-[a-z2-7]{20}$/);
      assert.equal(r.containerGroupId, '', 'no temporary container group builds the cache');

      let c = await one(alice, r.imageCacheId!);
      assert.equal(c.status, 'Preparing');
      assert.equal(c.progress, '0%');
      assert.equal(c.imageCacheName, 'web-cache');
      assert.deepEqual(c.images, ['nginx:1.25', 'registry.test:5000/team/app:v1'], 'duplicates dropped, order kept');
      assert.equal(c.imageCacheSize, 40);
      assert.equal(c.regionId, REGION);
      assert.equal(c.resourceGroupId, 'rg-1');
      assert.equal(c.containerGroupId, '');
      assert.equal(c.snapshotId, '');
      assert.match(c.creationTime!, RFC3339);
      assert.equal(Date.parse(c.expireDateTime!) - Date.parse(c.creationTime!), 7 * 86_400_000);
      assert.equal(c.lastMatchedTime, '');
      assert.deepEqual(c.tags!.map((t) => [t.key, t.value]), [['env', 'dev']]);
      assert.deepEqual(c.events!.map((e) => e.reason), ['Preparing']);
      const raw = await server.client(server.key('alice')).call('eci', 'DescribeImageCaches', { ImageCacheId: r.imageCacheId });
      assert.ok(!JSON.stringify(raw).includes('secret-pw'), 'a registry password is never shown');

      await hostSync();
      c = await one(alice, r.imageCacheId!);
      assert.equal(c.status, 'Ready');
      assert.equal(c.progress, '100%');
      assert.deepEqual(c.events!.map((e) => e.reason), ['Preparing', 'Pulling', 'Pulled', 'Pulling', 'Pulled', 'Created']);
      assert.match(c.events![2].message!, /Successfully pulled image "nginx:1\.25"/);
      assert.match(c.events![2].name!, new RegExp(`^${r.imageCacheId}\\.`));
      assert.equal(agentPuller.pins.get(r.imageCacheId!)?.length, 2, 'the host pinned both images');
    });

    it('a pull failure shows Failed with the registry\'s error in a Warning event', async () => {
      const { imageCacheId } = await create(alice, { imageCacheName: 'denied', image: ['registry.test:5000/private/denied:1'] });
      await hostSync();
      const c = await one(alice, imageCacheId!);
      assert.equal(c.status, 'Failed');
      const failed = c.events!.find((e) => e.reason === 'Failed')!;
      assert.equal(failed.type, 'Warning');
      assert.match(failed.message!, /UNAUTHORIZED: authentication required/);
      assert.ok(Date.parse(c.expireDateTime!) - Date.now() <= 24 * 3600 * 1000 + 5000, 'a failed cache expires within 24 hours');
    });

    it('refuses invalid requests with the reference\'s codes', async () => {
      const cases: [CreateFields, string, number][] = [
        [{ imageCacheName: 'Bad_Name' }, 'InvalidParameter', 400],
        [{ imageCacheName: '-dash' }, 'InvalidParameter', 400],
        [{ imageCacheName: 'x' }, 'InvalidParameter', 400],
        [{ imageCacheName: undefined }, 'MissingParameter', 400],
        [{ image: undefined }, 'MissingParameter', 400],
        [{ image: Array.from({ length: 21 }, (_, i) => `img${i}:1`) }, 'InvalidParameter', 400],
        [{ image: ['has space:1'] }, 'InvalidParameter', 400],
        [{ image: ['nginx:1.25', 'Upper/Case:1'] }, 'InvalidParameter', 400],
        [{ imageCacheSize: 10 }, 'InvalidParameter', 400],
        [{ retentionDays: 0 }, 'InvalidParameter', 400],
        [{ eliminationStrategy: 'FIFO' }, 'InvalidParameter', 400],
        [{ plainHttpRegistry: 'http://registry.test' }, 'InvalidParameter', 400],
        [{ zoneId: 'cn-hangzhou-z' }, 'InvalidZoneId.NotFound', 404],
        [{ vSwitchId: 'vsw-doesnotexist000000000' }, 'InvalidVSwitchId.NotFound', 404],
        [{ securityGroupId: 'sg-doesnotexist0000000000' }, 'InvalidSecurityGroupId.NotFound', 404],
        [{ eipInstanceId: 'eip-doesnotexist000000000' }, 'InvalidAllocationId.NotFound', 404],
        [{ flash: true }, 'UnsupportedParameter', 400],
        [{ standardCopyCount: 2 }, 'UnsupportedParameter', 400],
        [{ acrRegistryInfo: [new $Eci.CreateImageCacheRequestAcrRegistryInfo({ instanceId: 'cri-1' })] }, 'UnsupportedParameter', 400],
      ];
      const before = (await describeCaches(alice)).totalCount;
      for (const [fields, code, status] of cases) {
        const e = await rejection(() => create(alice, fields));
        assert.equal(e.code, code, JSON.stringify(fields));
        assert.equal(e.statusCode, status, JSON.stringify(fields));
      }
      const badImage = await rejection(() => create(alice, { image: ['nginx:1.25', 'Upper/Case:1'] }));
      assert.match(badImage.data.Message, /Image\.2/);
      const flash = await rejection(() => create(alice, { flash: true }));
      assert.match(flash.data.Message, /Flash is not supported by OpenECI/);
      assert.equal((await describeCaches(alice)).totalCount, before, 'nothing was created');
    });

    it('filters by id, name, image, tag, snapshot and MatchImage, and pages with Limit/NextToken', async () => {
      const a = (await create(alice, { imageCacheName: 'filter-a', image: ['redis:7'], tag: [new $Eci.CreateImageCacheRequestTag({ key: 'team', value: 'x' })] })).imageCacheId!;
      const b = (await create(alice, { imageCacheName: 'filter-b', image: ['redis:7', 'docker.io/library/busybox:latest'] })).imageCacheId!;
      const c = (await create(alice, { imageCacheName: 'filter-c', image: ['busybox'] })).imageCacheId!;
      const ids = (r: { imageCaches?: { imageCacheId?: string }[] }) => r.imageCaches!.map((x) => x.imageCacheId);

      assert.deepEqual(ids(await describeCaches(alice, { imageCacheName: 'filter-b' })), [b]);
      assert.deepEqual(ids(await describeCaches(alice, { tag: [new $Eci.DescribeImageCachesRequestTag({ key: 'team', value: 'x' })] })), [a]);
      // Image names compare in their canonical form: busybox = docker.io/library/busybox:latest.
      assert.deepEqual(ids(await describeCaches(alice, { image: 'index.docker.io/library/busybox' })), [b, c]);
      assert.deepEqual(ids(await describeCaches(alice, { snapshotId: 's-anything' })), [], 'no cache has a snapshot');
      assert.deepEqual(ids(await describeCaches(alice, { imageCacheId: 'imc-doesnotexist00000000' })), []);

      // MatchImage only considers Ready caches; none is Ready yet.
      assert.deepEqual(ids(await describeCaches(alice, { matchImage: ['redis:7', 'busybox'] })), []);
      await hostSync();
      assert.deepEqual(ids(await describeCaches(alice, { matchImage: ['redis:7', 'busybox'] })), [b, c, a], 'best match first, then newest');
      assert.deepEqual(ids(await describeCaches(alice, { matchImage: ['redis:7', 'busybox'], imageFullMatch: true })), [b]);
      assert.deepEqual(ids(await describeCaches(alice, { matchImage: ['redis:7', 'busybox'], imageMatchCountRequest: 2 })), [b]);

      const all = await describeCaches(alice);
      const seen: string[] = [];
      let token = '';
      do {
        const page = await describeCaches(alice, { limit: 2, nextToken: token || undefined });
        assert.ok(page.imageCaches!.length <= 2);
        assert.equal(page.totalCount, all.totalCount);
        seen.push(...ids(page).map(String));
        token = page.nextToken ?? '';
      } while (token);
      assert.deepEqual(seen, ids(all));
      assert.ok(all.totalCount! >= 5);
      const bad = await rejection(() => describeCaches(alice, { nextToken: 'garbage' }));
      assert.equal(bad.code, 'InvalidParameter');
    });

    it('updates a Ready cache (images → Updating → Ready; name and tags at once) and refuses a cache still building', async () => {
      const { imageCacheId: id } = await create(alice, { imageCacheName: 'upd', image: ['app:1'] });
      const early = await rejection(() => alice.updateImageCache(new $Eci.UpdateImageCacheRequest({ regionId: REGION, imageCacheId: id, imageCacheName: 'renamed' })));
      assert.equal(early.code, 'IncorrectImageCacheStatus');
      assert.equal(early.statusCode, 400);
      await hostSync();

      await alice.updateImageCache(new $Eci.UpdateImageCacheRequest({ regionId: REGION, imageCacheId: id, imageCacheName: 'renamed', tag: [new $Eci.UpdateImageCacheRequestTag({ key: 'k', value: 'v' })], retentionDays: 3 }));
      let c = await one(alice, id!);
      assert.equal(c.status, 'Ready', 'a name, tag or retention change does not rebuild');
      assert.equal(c.imageCacheName, 'renamed');
      assert.deepEqual(c.tags!.map((t) => [t.key, t.value]), [['k', 'v']]);
      assert.ok(Math.abs(Date.parse(c.expireDateTime!) - (Date.now() + 3 * 86_400_000)) < 60_000);

      await alice.updateImageCache(new $Eci.UpdateImageCacheRequest({ regionId: REGION, imageCacheId: id, image: ['app:2', 'app:3'] }));
      c = await one(alice, id!);
      assert.equal(c.status, 'Updating');
      assert.equal(c.progress, '0%');
      assert.deepEqual(c.images, ['app:2', 'app:3']);
      await hostSync();
      c = await one(alice, id!);
      assert.equal(c.status, 'Ready');
      assert.equal(c.events!.at(-1)!.reason, 'Updated');
      assert.ok(agentPuller.pulled.includes('app:3'));

      const gone = await rejection(() => alice.updateImageCache(new $Eci.UpdateImageCacheRequest({ regionId: REGION, imageCacheId: 'imc-doesnotexist00000000', imageCacheName: 'x1' })));
      assert.equal(gone.code, 'InvalidImageCacheId.NotFound');
      assert.equal(gone.statusCode, 404);
    });

    it('deletes a cache in any status; the host releases its images', async () => {
      const { imageCacheId: building } = await create(alice, { imageCacheName: 'del-a', image: ['del:1'] });
      await alice.deleteImageCache(new $Eci.DeleteImageCacheRequest({ regionId: REGION, imageCacheId: building }));
      assert.equal((await describeCaches(alice, { imageCacheId: building })).totalCount, 0);

      const { imageCacheId: ready } = await create(alice, { imageCacheName: 'del-b', image: ['del:2'] });
      await hostSync();
      assert.ok(agentPuller.pins.has(ready!));
      await alice.deleteImageCache(new $Eci.DeleteImageCacheRequest({ regionId: REGION, imageCacheId: ready }));
      await hostSync();
      assert.ok(!agentPuller.pins.has(ready!), 'the agent dropped its pin');
      const again = await rejection(() => alice.deleteImageCache(new $Eci.DeleteImageCacheRequest({ regionId: REGION, imageCacheId: ready })));
      assert.equal(again.code, 'InvalidImageCacheId.NotFound');
      assert.equal(again.statusCode, 404);
    });

    it('hides one account\'s caches from another', async () => {
      const { imageCacheId: id } = await create(alice, { imageCacheName: 'private', image: ['secret-app:1'] });
      await hostSync();
      assert.equal((await describeCaches(bob, { imageCacheId: id })).totalCount, 0);
      assert.equal((await describeCaches(bob, { matchImage: ['secret-app:1'] })).totalCount, 0);
      for (const call of [
        () => bob.deleteImageCache(new $Eci.DeleteImageCacheRequest({ regionId: REGION, imageCacheId: id })),
        () => bob.updateImageCache(new $Eci.UpdateImageCacheRequest({ regionId: REGION, imageCacheId: id, imageCacheName: 'mine' })),
      ]) {
        const e = await rejection(call);
        assert.equal(e.code, 'InvalidImageCacheId.NotFound');
        assert.equal(e.statusCode, 404);
      }
      const e = await rejection(() => createGroup(bob, ['secret-app:1'], { imageSnapshotId: id }));
      assert.equal(e.code, 'InvalidImageSnapshotId.NotFound');
      assert.equal(e.statusCode, 404);
      // Bob's auto-match never sees Alice's cache.
      const g = await createGroup(bob, ['secret-app:1'], { autoMatchImageCache: true });
      assert.equal((await groupData(g)).ImageCacheId, '');
      assert.equal((await one(alice, id!)).status, 'Ready');
    });

    it('ClientToken makes a create idempotent; DryRun creates nothing', async () => {
      const first = await create(alice, { imageCacheName: 'idem', image: ['idem:1'], clientToken: 'tok-imc-1' });
      const again = await create(alice, { imageCacheName: 'idem', image: ['idem:1'], clientToken: 'tok-imc-1' });
      assert.equal(again.imageCacheId, first.imageCacheId);
      assert.equal((await describeCaches(alice, { imageCacheName: 'idem' })).totalCount, 1);
      const mismatch = await rejection(() => create(alice, { imageCacheName: 'idem', image: ['idem:2'], clientToken: 'tok-imc-1' }));
      assert.equal(mismatch.code, 'IdempotentParameterMismatch');
      // The SDK's model of this action has no DryRun field; the wire parameter is the pipeline's.
      const dry = await rejection(() => server.client(server.key('alice')).call('eci', 'CreateImageCache', { ImageCacheName: 'dry', Image: ['dry:1'], DryRun: true }));
      assert.equal(dry.code, 'DryRunOperation');
      assert.equal((await describeCaches(alice, { imageCacheName: 'dry' })).totalCount, 0);
    });

    it('CreateContainerGroup with ImageSnapshotId: a cache not Ready is refused; a Ready one is recorded and hit', async () => {
      const { imageCacheId: id } = await create(alice, { imageCacheName: 'snap', image: ['snap-app:1'] });
      const notReady = await rejection(() => createGroup(alice, ['snap-app:1'], { imageSnapshotId: id }));
      assert.equal(notReady.code, 'IncorrectImageCacheStatus');
      assert.equal(notReady.statusCode, 400);
      assert.match(notReady.data.Message, /not yet complete/);
      const missing = await rejection(() => createGroup(alice, ['snap-app:1'], { imageSnapshotId: 'imc-doesnotexist00000000' }));
      assert.equal(missing.code, 'InvalidImageSnapshotId.NotFound');

      await hostSync();
      const g = await createGroup(alice, ['snap-app:1'], { imageSnapshotId: id });
      assert.equal((await groupData(g)).ImageCacheId, id);
      const hit = (await groupEvents(alice, g)).find((e) => e.reason === 'SuccessfulHitImageCache')!;
      assert.equal(hit.type, 'Normal');
      assert.match(hit.message!, new RegExp(`Successfully hit image cache ${id}`));
      const c = await one(alice, id!);
      assert.match(c.lastMatchedTime!, RFC3339);
    });

    it('AutoMatchImageCache picks the Ready cache holding most of the group\'s images, newest on ties; none → no cache', async () => {
      const nginxOnly = (await create(alice, { imageCacheName: 'am-1', image: ['am-web:1'] })).imageCacheId!;
      const bothOld = (await create(alice, { imageCacheName: 'am-2', image: ['am-web:1', 'am-db:1'] })).imageCacheId!;
      await hostSync();
      // Created later (maybe within the same second: the row order then says which is newer).
      const bothNew = (await create(alice, { imageCacheName: 'am-3', image: ['am-db:1', 'am-web:1', 'am-extra:1'] })).imageCacheId!;
      const zoneI = (await create(alice, { imageCacheName: 'am-4', image: ['am-web:1', 'am-db:1', 'am-side:1'], zoneId: 'cn-hangzhou-i' })).imageCacheId!;
      await hostSync();
      assert.equal((await one(alice, bothNew)).status, 'Ready');
      assert.equal((await one(alice, zoneI)).status, 'Preparing', 'no host of zone i in this test');

      const g = await createGroup(alice, ['am-web:1', 'docker.io/library/am-db:1', 'am-side:1'], { autoMatchImageCache: true });
      assert.equal((await groupData(g)).ImageCacheId, bothNew, `not ${nginxOnly} or ${bothOld}`);
      assert.ok((await groupEvents(alice, g)).some((e) => e.reason === 'SuccessfulHitImageCache' && e.message!.includes(bothNew)));
      assert.match((await one(alice, bothNew)).lastMatchedTime!, RFC3339);
      assert.equal((await one(alice, bothOld)).lastMatchedTime, '');

      const none = await createGroup(alice, ['unrelated:9'], { autoMatchImageCache: true });
      assert.equal((await groupData(none)).ImageCacheId, '');
      const missed = (await groupEvents(alice, none)).find((e) => e.reason === 'ImageCacheMissed')!;
      assert.equal(missed.type, 'Warning');
      const plain = await createGroup(alice, ['am-web:1']);
      assert.equal((await groupData(plain)).ImageCacheId, '', 'without AutoMatchImageCache no cache is used');
    });
  });
}

describe('ECI image cache quota', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { quotas: { imageCaches: 2 } } });
  });
  after(() => server?.close());

  it('answers QuotaExceeded.ImageCache at the quota, unless an LRU cache can make room', async () => {
    const eci = new EciClient(server.sdkConfig(server.key('carol')));
    const create = (name: string, extra: CreateFields = {}) =>
      eci.createImageCache(new $Eci.CreateImageCacheRequest({ regionId: REGION, imageCacheName: name, image: ['q:1'], ...extra })).then((r) => r.body!.imageCacheId!);
    const kept = await create('q-1');
    const lru = await create('q-2', { eliminationStrategy: 'LRU' });
    const third = await create('q-3');
    const list = await eci.describeImageCaches(new $Eci.DescribeImageCachesRequest({ regionId: REGION }));
    assert.deepEqual(list.body!.imageCaches!.map((c) => c.imageCacheId).sort(), [kept, third].sort(), `the LRU cache ${lru} made room`);
    const e = await rejection(() => create('q-4'));
    assert.equal(e.code, 'QuotaExceeded.ImageCache');
    assert.equal(e.statusCode, 400);
    // Another account has its own quota.
    const dave = new EciClient(server.sdkConfig(server.key('dave')));
    await dave.createImageCache(new $Eci.CreateImageCacheRequest({ regionId: REGION, imageCacheName: 'd-1', image: ['q:1'] }));
  });

  it('an expired cache is gone: not listed, not found, and its quota is reclaimed by the next create', async () => {
    const erin = new EciClient(server.sdkConfig(server.key('erin')));
    const expired = 'imc-expiredexpiredexpir';
    const store = await openStore(server.storeUrl);
    try {
      for (const id of [expired, `${expired.slice(0, -1)}2`]) {
        const data: ImageCacheData = {
          ImageCacheId: id, ImageCacheName: 'old', RegionId: REGION, ZoneId: '', Images: ['old:1'], ImageRegistryCredentials: [], PlainHttpRegistries: [],
          InsecureRegistries: [], ImageCacheSize: 20, RetentionDays: 1, ExpireDateTime: '2020-01-02T00:00:00Z', EliminationStrategy: '', AutoMatchImageCache: false,
          VSwitchId: '', SecurityGroupId: '', EipInstanceId: '', ResourceGroupId: '', Tags: [], CreationTime: '2020-01-01T00:00:00Z', LastMatchedTime: '',
          Progress: '100%', Generation: 1, StatusTime: '2020-01-01T00:00:00Z', Hosts: {},
        };
        await store.tx((tx) => tx.insert({ kind: KIND.imageCache, id, account: 'erin', region: REGION, name: 'old', status: 'Ready', parent: '', createdAt: data.CreationTime, data }));
      }
    } finally {
      await store.close();
    }
    assert.equal((await erin.describeImageCaches(new $Eci.DescribeImageCachesRequest({ regionId: REGION }))).body!.totalCount, 0);
    const e = await rejection(() => erin.deleteImageCache(new $Eci.DeleteImageCacheRequest({ regionId: REGION, imageCacheId: expired })));
    assert.equal(e.code, 'InvalidImageCacheId.NotFound');
    const g = await rejection(() => erin.createContainerGroup(new $Eci.CreateContainerGroupRequest({ regionId: REGION, containerGroupName: 'g1', imageSnapshotId: expired, container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'c', image: 'old:1' })] })));
    assert.equal(g.code, 'InvalidImageSnapshotId.NotFound');
    // Two expired rows fill the quota of 2 until a create reclaims them.
    for (const name of ['e-1', 'e-2']) await erin.createImageCache(new $Eci.CreateImageCacheRequest({ regionId: REGION, imageCacheName: name, image: ['q:1'] }));
    const after = await openStore(server.storeUrl);
    try {
      assert.equal(await after.get(KIND.imageCache, expired), undefined, 'the expired row was purged');
    } finally {
      await after.close();
    }
  });
});
