// Registry auth and transport security against real registries: htpasswd Basic, Docker token auth (Bearer
// challenge → token server), wrong passwords (one failed attempt, no retry storm), and the PlainHttpRegistry /
// InsecureRegistry semantics against a TLS registry with a self-signed certificate.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startFlakyProxy, type FlakyProxy } from '../../helpers/flaky-proxy.ts';
import { buildImageLayout, pushImage, type ImageSpec } from '../../helpers/oci-image.ts';
import { ImagePullError, ImageStore } from '../../../src/agent/images/image-store.ts';

const work = mkdtempSync(join(tmpdir(), 'eci-pull-auth-test-'));
const layouts: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
let n = 0;
// Fast back-off: a test that retried a 401 would show up as extra requests, not as time.
const newStore = () => new ImageStore({ root: join(work, `store-${++n}`), retry: { attempts: 5, baseMs: 20, maxMs: 100 } });
const spec: ImageSpec = { layers: [{ entries: [{ path: 'hello', content: 'private\n' }] }], config: { Cmd: ['cat', '/hello'] } };

async function registryWith(opts: Parameters<typeof startRegistry>[0], repo = 'team/private:v1') {
  const reg = await startRegistry(opts);
  cleanups.push(() => reg.destroy());
  const built = await buildImageLayout(spec);
  layouts.push(built.dir);
  await pushImage(built.dir, reg, repo, { tag: 'latest' });
  return { reg, built };
}

async function proxyFor(reg: TestRegistry): Promise<FlakyProxy> {
  const [host, port] = reg.host.split(':');
  const proxy = await startFlakyProxy({ host, port: Number(port) });
  cleanups.push(() => proxy.close());
  return proxy;
}

after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const l of layouts) rmSync(l, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('basic auth (htpasswd)', () => {
  let reg: TestRegistry;
  let proxy: FlakyProxy;
  let digest: string;
  before(async () => {
    const r = await registryWith({ auth: 'basic', users: { alice: 'right-pw' } });
    reg = r.reg;
    digest = r.built.manifestDigest;
    proxy = await proxyFor(reg);
  });

  it('pulls with the credential whose Server is the registry', async () => {
    const store = newStore();
    const r = await store.pull(`${proxy.host}/team/private:v1`, {
      plainHttpRegistries: [proxy.host],
      credentials: [
        { Server: 'other.example.com', UserName: 'alice', Password: 'wrong' },
        { Server: proxy.host, UserName: 'alice', Password: 'right-pw' },
      ],
    });
    assert.equal(r.image.digest, digest);
    assert.equal(readFileSync(join(r.image.layers[0].dir, 'hello'), 'utf8'), 'private\n');
  });

  it('a wrong password is Unauthorized with the registry message after exactly one failed attempt', async () => {
    const store = newStore();
    proxy.requests.length = 0;
    await assert.rejects(
      store.pull(`${proxy.host}/team/private:v1`, { plainHttpRegistries: [proxy.host], credentials: [{ Server: proxy.host, UserName: 'alice', Password: 'nope' }] }),
      (e: unknown) => {
        assert.ok(e instanceof ImagePullError);
        assert.equal(e.code, 'Unauthorized');
        assert.equal(e.retryable, false);
        assert.equal(e.status, 401);
        assert.match(e.message, /UNAUTHORIZED: authentication required/);
        assert.match(e.message, /user alice/);
        return true;
      },
    );
    // The anonymous probe that earns the Basic challenge, then one attempt with the credentials. No retry.
    assert.deepEqual(proxy.requests.map((q) => q.status), [401, 401]);
  });

  it('without credentials the pull is Unauthorized and says none were given', async () => {
    const store = newStore();
    await assert.rejects(store.pull(`${proxy.host}/team/private:v1`, { plainHttpRegistries: [proxy.host] }), (e: unknown) => {
      assert.ok(e instanceof ImagePullError && e.code === 'Unauthorized');
      assert.match(e.message, /no credentials/);
      return true;
    });
  });
});

describe('token auth (Bearer challenge)', () => {
  let reg: TestRegistry;
  let digest: string;
  before(async () => {
    const r = await registryWith({ auth: 'token', users: { bob: 'token-pw' } });
    reg = r.reg;
    digest = r.built.manifestDigest;
  });

  it('fetches a token from the realm with Basic credentials and reuses it', async () => {
    const store = newStore();
    const before = reg.tokenRequests.length;
    const cred = { plainHttpRegistries: [reg.host], credentials: [{ Server: `http://${reg.host}/`, UserName: 'bob', Password: 'token-pw' }] };
    const r = await store.pull(`${reg.host}/team/private:v1`, cred);
    assert.equal(r.image.digest, digest);
    const asked = reg.tokenRequests.slice(before);
    assert.deepEqual(asked.map((t) => [t.user, t.status]), [['bob', 200]], 'one token for the whole pull');
    assert.deepEqual(asked[0].scopes, ['repository:team/private:pull']);
    // The same store and scope: the cached token serves the next pull (which only resolves the manifest).
    const again = await store.pull(`${reg.host}/team/private:v1`, cred);
    assert.equal(again.alreadyPresent, true);
    assert.equal(reg.tokenRequests.length, before + 1);
  });

  it('a wrong password is Unauthorized after one token request; anonymous is Unauthorized too', async () => {
    const store = newStore();
    const before = reg.tokenRequests.length;
    await assert.rejects(
      store.pull(`${reg.host}/team/private:v1`, { plainHttpRegistries: [reg.host], credentials: [{ Server: reg.host, UserName: 'bob', Password: 'bad' }] }),
      (e: unknown) => e instanceof ImagePullError && e.code === 'Unauthorized' && !e.retryable && /user bob/.test(e.message),
    );
    assert.deepEqual(reg.tokenRequests.slice(before).map((t) => [t.user, t.status]), [['bob', 401]]);
    await assert.rejects(store.pull(`${reg.host}/team/private:v1`, { plainHttpRegistries: [reg.host] }), (e: unknown) => {
      assert.ok(e instanceof ImagePullError && e.code === 'Unauthorized');
      assert.match(e.message, /UNAUTHORIZED: authentication required/);
      return true;
    });
  });
});

describe('PlainHttpRegistry and InsecureRegistry', () => {
  let tls: TestRegistry;
  let plain: TestRegistry;
  before(async () => {
    tls = (await registryWith({ tls: true }, 'team/tls:v1')).reg;
    plain = (await registryWith({}, 'team/plain:v1')).reg;
  });

  it('a self-signed registry fails with TLS unless it is an InsecureRegistry', async () => {
    const store = newStore();
    await assert.rejects(store.pull(`${tls.host}/team/tls:v1`), (e: unknown) => {
      assert.ok(e instanceof ImagePullError);
      assert.equal(e.code, 'TLS');
      assert.equal(e.retryable, false);
      assert.match(e.message, new RegExp(`InsecureRegistry`));
      assert.ok(e.message.includes(tls.host));
      return true;
    });
    const r = await store.pull(`${tls.host}/team/tls:v1`, { insecureRegistries: [tls.host] });
    assert.equal(readFileSync(join(r.image.layers[0].dir, 'hello'), 'utf8'), 'private\n');
    // PlainHttpRegistry means http://, which a TLS registry does not answer as a registry.
    await assert.rejects(store.pull(`${tls.host}/team/tls:v2`, { plainHttpRegistries: [tls.host] }), (e: unknown) => e instanceof ImagePullError && e.code !== 'NotFound');
  });

  it('a plain-http registry needs PlainHttpRegistry; InsecureRegistry (still https) is not enough', async () => {
    const store = newStore();
    for (const opts of [{}, { insecureRegistries: [plain.host] }]) {
      await assert.rejects(store.pull(`${plain.host}/team/plain:v1`, opts), (e: unknown) => {
        assert.ok(e instanceof ImagePullError);
        assert.equal(e.code, 'TLS');
        assert.match(e.message, /PlainHttpRegistry/);
        return true;
      });
    }
    const r = await store.pull(`${plain.host}/team/plain:v1`, { plainHttpRegistries: [plain.host] });
    assert.equal(readFileSync(join(r.image.layers[0].dir, 'hello'), 'utf8'), 'private\n');
  });
});
