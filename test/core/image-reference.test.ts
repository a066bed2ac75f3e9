// Table tests of image name parsing: the Docker/distribution reference grammar and its normalisation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidImageReferenceError, manifestReference, normalizeRegistryServer, parseImageReference, registryApiHost } from '../../src/core/image-reference.ts';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseImageReference', () => {
  it('normalises the names users write', () => {
    const table: [string, { registry: string; repository: string; tag?: string; digest?: string; canonical: string }][] = [
      ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest', canonical: 'docker.io/library/nginx:latest' }],
      ['nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25', canonical: 'docker.io/library/nginx:1.25' }],
      ['library/nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25', canonical: 'docker.io/library/nginx:1.25' }],
      ['docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest', canonical: 'docker.io/library/nginx:latest' }],
      ['index.docker.io/library/nginx:1', { registry: 'docker.io', repository: 'library/nginx', tag: '1', canonical: 'docker.io/library/nginx:1' }],
      ['team/app', { registry: 'docker.io', repository: 'team/app', tag: 'latest', canonical: 'docker.io/team/app:latest' }],
      ['registry.example.com/team/app@' + D, { registry: 'registry.example.com', repository: 'team/app', digest: D, canonical: `registry.example.com/team/app@${D}` }],
      ['127.0.0.1:5000/team/app:v1', { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v1', canonical: '127.0.0.1:5000/team/app:v1' }],
      ['127.0.0.1:5000/app', { registry: '127.0.0.1:5000', repository: 'app', tag: 'latest', canonical: '127.0.0.1:5000/app:latest' }],
      ['localhost/app:x', { registry: 'localhost', repository: 'app', tag: 'x', canonical: 'localhost/app:x' }],
      ['localhost:8080/a/b/c:t_1.2-3', { registry: 'localhost:8080', repository: 'a/b/c', tag: 't_1.2-3', canonical: 'localhost:8080/a/b/c:t_1.2-3' }],
      ['[::1]:5000/app:v1', { registry: '[::1]:5000', repository: 'app', tag: 'v1', canonical: '[::1]:5000/app:v1' }],
      ['host.io/app:v1@' + D, { registry: 'host.io', repository: 'app', tag: 'v1', digest: D, canonical: `host.io/app:v1@${D}` }],
      ['my-registry.local/team_a/app.web__x', { registry: 'my-registry.local', repository: 'team_a/app.web__x', tag: 'latest', canonical: 'my-registry.local/team_a/app.web__x:latest' }],
    ];
    for (const [input, want] of table) assert.deepEqual({ ...parseImageReference(input) }, want, input);
  });

  it('rejects malformed names with a message naming the problem', () => {
    const table: [string, RegExp][] = [
      ['', /empty/],
      ['Nginx', /invalid repository component "Nginx"/],
      ['nginx:', /invalid tag ""/],
      ['nginx:-x', /invalid tag "-x"/],
      ['nginx@sha256:abc', /digest must be sha256/],
      ['nginx@md5:' + 'a'.repeat(32), /digest must be sha256/],
      ['team//app', /empty path component/],
      ['team/app-', /invalid repository component "app-"/],
      ['host.io/', /empty path component/],
      [':tag', /repository is empty/],
      ['bad_host.io:5000/app', /invalid registry host/],
      ['a/' + 'b'.repeat(300), /longer than 255/],
      ['app:' + 't'.repeat(129), /invalid tag/],
    ];
    for (const [input, message] of table) {
      assert.throws(() => parseImageReference(input), (e: unknown) => e instanceof InvalidImageReferenceError && message.test(e.message) && e.image === input, input);
    }
  });

  it('asks the registry for the digest when there is one, else the tag', () => {
    assert.equal(manifestReference(parseImageReference('nginx')), 'latest');
    assert.equal(manifestReference(parseImageReference('nginx:1.25')), '1.25');
    assert.equal(manifestReference(parseImageReference(`nginx:1.25@${D}`)), D);
  });
});

describe('registry hosts', () => {
  it('maps Docker Hub to its API host and leaves others alone', () => {
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(registryApiHost('registry.example.com'), 'registry.example.com');
  });

  it('normalises credential servers written as URLs', () => {
    assert.equal(normalizeRegistryServer('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistryServer('docker.io'), 'docker.io');
    assert.equal(normalizeRegistryServer('Registry.Example.com/'), 'registry.example.com');
    assert.equal(normalizeRegistryServer('http://127.0.0.1:5000'), '127.0.0.1:5000');
  });
});
