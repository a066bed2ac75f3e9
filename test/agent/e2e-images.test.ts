// Images end to end: `eci server` + `eci agent` pulling from a real registry (Debian's docker-registry on
// loopback, basic auth) through a counting proxy, driven by the official ECI SDK. The image is built and
// pushed by real tools (GNU tar, skopeo). Proves: a group runs the image's own filesystem, ENTRYPOINT, CMD,
// ENV and WORKDIR; Pulling/Pulled events carry the size; two groups pulling one image at once download each
// blob once; a wrong password is ErrImagePull/ImagePullBackOff with the registry's message and no retry
// storm; a matched image cache starts a group with no registry round trip at all, even under
// ImagePullPolicy Always. Root only (namespaces, mounts, runc).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ok } from '../cli/run-cli.ts';
import { $Eci, EciClient } from '../helpers/sdk.ts';
import { startFlakyProxy, type FlakyProxy } from '../helpers/flaky-proxy.ts';
import { buildImageLayout, busyboxLayer, pushImage } from '../helpers/oci-image.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { until } from '../helpers/wait.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { describeGroup as describeGroupOf, groupEvents } from './helpers/groups.ts';

const REGION = 'cn-hangzhou';
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('images end to end', { skip: isRoot ? false : 'needs root (network namespaces, mounts, runc)' }, () => {
  let cluster: TestCluster;
  let registry: TestRegistry;
  let proxy: FlakyProxy;
  let eci: EciClient;
  const user = 'puller';
  const password = 'right-horse-battery';
  /** Layer digests of the app image, bottom first. */
  let appLayers: string[] = [];
  let appImage = '';
  let appDigest = '';
  /** The OCI layout the app image is built in (pushed to the registry, then removed). */
  let layout: string | undefined;

  before(async () => {
    registry = await startRegistry({ auth: 'basic', users: { [user]: password } });
    const [host, port] = registry.host.split(':');
    proxy = await startFlakyProxy({ host, port: Number(port) });
    const built = await buildImageLayout({
      layers: [
        busyboxLayer(),
        { entries: [{ path: 'app', dir: true }, { path: 'app/hello.txt', content: 'hello from the image layer\n' }], compression: 'gzip' },
      ],
      config: {
        Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=from-image'],
        Entrypoint: ['/bin/sh', '-c'],
        Cmd: ['cat /app/hello.txt; exec sleep 3600'],
        WorkingDir: '/app',
      },
    });
    layout = built.dir;
    appLayers = built.layerDigests;
    appDigest = (await pushImage(built.dir, registry, 'team/app:1', { user })).digest;
    appImage = `${proxy.host}/team/app:1`;
    cluster = await startCluster();
    eci = new EciClient(cluster.server.sdkConfig(cluster.server.key('images')));
  });
  after(async () => {
    if (process.env.ECI_TEST_DEBUG) console.error(cluster?.agent.output());
    await cluster?.destroy();
    await proxy?.close();
    await registry?.destroy();
    if (layout) rmSync(layout, { recursive: true, force: true });
  });

  const describeGroup = (id: string) => describeGroupOf(eci, id);
  const events = async (id: string) => (await groupEvents(eci, id)).map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', type: e.type ?? '' }));
  const create = async (name: string, image: string, opts: { password?: string; policy?: string; autoMatchImageCache?: boolean; client?: EciClient; noCredentials?: boolean } = {}) => {
    const r = await (opts.client ?? eci).createContainerGroup(
      new $Eci.CreateContainerGroupRequest({
        regionId: REGION,
        containerGroupName: name,
        cpu: 0.25,
        memory: 0.5,
        terminationGracePeriodSeconds: 0,
        plainHttpRegistry: proxy.host,
        ...(opts.autoMatchImageCache ? { autoMatchImageCache: true } : {}),
        ...(opts.noCredentials ? {} : { imageRegistryCredential: [new $Eci.CreateContainerGroupRequestImageRegistryCredential({ server: proxy.host, userName: user, password: opts.password ?? password })] }),
        container: [new $Eci.CreateContainerGroupRequestContainer({ name: 'app', image, ...(opts.policy ? { imagePullPolicy: opts.policy } : {}) })],
      }),
    );
    return r.body!.containerGroupId!;
  };
  const running = (id: string, timeoutMs = 60_000) =>
    until(`${id} Running`, async () => {
      const g = await describeGroup(id);
      return g?.status === 'Running' ? g : undefined;
    }, timeoutMs);
  const remove = async (id: string) => {
    await eci.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: id }));
    await until(`${id} gone`, async () => ((await describeGroup(id)) === undefined ? true : undefined), 30_000);
  };
  const blobGets = () => proxy.requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path));

  it("runs the image's own filesystem, ENTRYPOINT, CMD, ENV and WORKDIR; two groups pulling it at once download each blob once", async () => {
    proxy.requests.length = 0;
    const [a, b] = await Promise.all([create('img-a', appImage), create('img-b', appImage)]);
    await Promise.all([running(a), running(b)]);
    for (const layer of appLayers) assert.equal(blobGets().filter((r) => r.path.endsWith(layer)).length, 1, `layer ${layer} fetched once for both groups`);

    const log = await until('the log', async () => {
      const r = await eci.describeContainerLog(new $Eci.DescribeContainerLogRequest({ regionId: REGION, containerGroupId: a, containerName: 'app' }));
      return r.body!.content ? r.body!.content : undefined;
    });
    assert.equal(log, 'hello from the image layer\n', 'ENTRYPOINT + CMD ran over the image layer');
    const exec = await eci.execContainerCommand(
      new $Eci.ExecContainerCommandRequest({ regionId: REGION, containerGroupId: a, containerName: 'app', command: JSON.stringify(['sh', '-c', 'echo $GREETING; pwd']), sync: true }),
    );
    assert.equal(exec.body!.syncResponse, 'from-image\n/app\n', 'ENV and WORKDIR come from the image config');

    const ev = await events(a);
    const pulling = ev.find((e) => e.reason === 'Pulling');
    const pulled = ev.find((e) => e.reason === 'Pulled');
    assert.match(pulling?.message ?? '', new RegExp(`Pulling image "${appImage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
    assert.match(pulled?.message ?? '', /Successfully pulled image .* in \d+\.\d{3}s.*Image size: \d+ bytes/);
    const g = await describeGroup(a);
    assert.equal(g!.containers![0].image, appImage);
    // DescribeContainerGroupStatus shows the image the container runs as Kubernetes' imageID.
    const st = await eci.describeContainerGroupStatus(new $Eci.DescribeContainerGroupStatusRequest({ regionId: REGION, containerGroupIds: JSON.stringify([a]) }));
    assert.equal(st.body!.data![0].podStatus!.containerStatuses![0].imageID, `${proxy.host}/team/app@${appDigest}`);

    // GC with a zero budget (`eci image gc` on the agent's own store) keeps what running containers use…
    const imageStore = join(cluster.agent.stateDir, 'image-store');
    const gc = () => JSON.parse(ok(['image', 'gc', '--budget', '0', '--image-store', imageStore, '--json'])) as { removedImages: { digest: string }[] };
    assert.deepEqual(gc().removedImages.map((r) => r.digest), [], 'the running containers lease the image');
    await Promise.all([remove(a), remove(b)]);
    // …and frees it once the containers are gone.
    assert.deepEqual(gc().removedImages.map((r) => r.digest), [appDigest]);
    // Nothing of either group stays (the host netns stays; the VPC router goes within one resync).
    const left = async () => (await cluster.leftovers()).filter((l) => l !== `netns ${cluster.agent.hostNetns}`);
    await until('no leftovers', async () => ((await left()).length === 0 ? true : undefined), 8000).catch(() => undefined);
    assert.deepEqual(await left(), []);
  });

  it("another tenant cannot start a private image another tenant pulled without the registry's say", async () => {
    const owner = await create('img-owner', appImage);
    await running(owner);
    const other = new EciClient(cluster.server.sdkConfig(cluster.server.key('other-tenant')));
    const otherEvents = async (id: string) => (await groupEvents(other, id)).map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
    const sneaky = await create('img-sneaky', appImage, { client: other, noCredentials: true });
    const refused = await until('the pull without credentials to fail', async () => (await otherEvents(sneaky)).find((e) => e.reason === 'Failed' && /Failed to pull image/.test(e.message)), 30_000);
    assert.match(refused.message, /UNAUTHORIZED|authentication required/i, 'the image on the host did not start for a tenant without credentials');
    // With its own credentials the registry says yes: the image on the host is used (no blob downloaded).
    proxy.requests.length = 0;
    const allowed = await create('img-allowed', appImage, { client: other });
    await until('the other tenant\'s group Running', async () => ((await describeGroupOf(other, allowed))?.status === 'Running' ? true : undefined), 60_000);
    assert.equal(blobGets().filter((r) => appLayers.some((l) => r.path.endsWith(l))).length, 0, 'no layer downloaded again');
    assert.ok(proxy.requests.some((r) => /\/manifests\//.test(r.path)), 'the registry was asked');
    for (const id of [sneaky, allowed]) {
      await other.deleteContainerGroup(new $Eci.DeleteContainerGroupRequest({ regionId: REGION, containerGroupId: id }));
    }
    await remove(owner);
  });

  it('a wrong password: ErrImagePull then ImagePullBackOff with the registry message, one attempt, no retry storm', async () => {
    proxy.requests.length = 0;
    const id = await create('img-badpw', `${proxy.host}/team/app:1`, { password: 'wrong', policy: 'Always' });
    const failed = await until('the pull to fail', async () => {
      const ev = await events(id);
      return ev.find((e) => e.reason === 'Failed' && /Failed to pull image/.test(e.message));
    }, 30_000);
    assert.match(failed.message, /UNAUTHORIZED|authentication required|unauthorized/i);
    const waiting = await until('ImagePullBackOff', async () => {
      const g = await describeGroup(id);
      const s = g?.containers?.[0]?.currentState;
      return s?.reason === 'ImagePullBackOff' ? { g, s } : undefined;
    }, 15_000);
    assert.equal(waiting.g!.status, 'Pending');
    assert.equal(waiting.g!.containers![0].restartCount, 0, 'a failed pull is not a restart');
    const manifestGets = () => proxy.requests.filter((r) => /\/manifests\//.test(r.path)).length;
    const seen = manifestGets();
    await sleep(3000);
    assert.equal(manifestGets(), seen, 'nothing retried within the 10 s back-off');
    assert.ok(proxy.requests.length <= 6, `one attempt is a handful of requests, saw ${proxy.requests.length}: ${proxy.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join(', ')}`);
    await remove(id);
  });

  it('a matched image cache starts the group without a registry round trip, even with ImagePullPolicy Always', async () => {
    const cache = await eci.createImageCache(
      new $Eci.CreateImageCacheRequest({
        regionId: REGION,
        imageCacheName: 'app-cache',
        image: [appImage],
        plainHttpRegistry: proxy.host,
        imageRegistryCredential: [new $Eci.CreateImageCacheRequestImageRegistryCredential({ server: proxy.host, userName: user, password })],
      }),
    );
    const cacheId = cache.body!.imageCacheId!;
    await until('the image cache Ready', async () => {
      const r = await eci.describeImageCaches(new $Eci.DescribeImageCachesRequest({ regionId: REGION, imageCacheId: cacheId }));
      const c = r.body!.imageCaches?.[0];
      if (c?.status === 'Failed') throw new Error(`the image cache failed: ${JSON.stringify(c.events)}`);
      return c?.status === 'Ready' ? c : undefined;
    }, 60_000);

    proxy.requests.length = 0;
    const id = await create('img-cached', appImage, { policy: 'Always', autoMatchImageCache: true });
    await running(id);
    assert.deepEqual(
      proxy.requests.map((r) => `${r.method} ${r.path}`),
      [],
      'no registry request at all: the image came from the cache',
    );
    const ev = await events(id);
    assert.ok(ev.some((e) => e.reason === 'SuccessfulHitImageCache' && e.message.includes(cacheId)), JSON.stringify(ev));
    assert.ok(!ev.some((e) => e.reason === 'Pulling'), 'no Pulling event');
    await remove(id);
  });
});
