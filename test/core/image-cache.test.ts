// The pure image-cache rules: image matching, the cache a group uses, expiry, and one host's plan.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiryFor, imageKey, isExpired, matchCount, pickImageCache, planHostCache, progressText, rankMatches, type HostCacheView } from '../../src/core/image-cache.ts';
import type { ImageCacheHostRecord } from '../../src/core/model.ts';

const NOW = '2026-03-01T10:00:00Z';
const cand = (id: string, status: string, Images: string[], over: { ZoneId?: string; CreationTime?: string; ExpireDateTime?: string; seq?: number } = {}) => ({
  id,
  status,
  seq: over.seq,
  data: { Images, ZoneId: over.ZoneId ?? '', CreationTime: over.CreationTime ?? '2026-03-01T09:00:00Z', ExpireDateTime: over.ExpireDateTime ?? '' },
});

describe('image cache rules', () => {
  it('compares image names in canonical form', () => {
    assert.equal(imageKey('nginx'), 'docker.io/library/nginx:latest');
    assert.equal(imageKey('index.docker.io/library/nginx:latest'), imageKey('nginx'));
    assert.notEqual(imageKey('nginx:1.25'), imageKey('nginx'));
    assert.equal(imageKey('127.0.0.1:5000/team/app:v1'), '127.0.0.1:5000/team/app:v1');
    assert.equal(matchCount(['nginx', 'redis:7'], ['docker.io/library/nginx:latest', 'redis:7', 'redis:7', 'busybox']), 2);
    assert.equal(matchCount(['nginx'], []), 0);
  });

  it('picks the Ready, unexpired cache of the zone holding most images, newest on ties', () => {
    const images = ['web:1', 'db:1', 'side:1'];
    const caches = [
      cand('one', 'Ready', ['web:1']),
      cand('two-old', 'Ready', ['web:1', 'db:1'], { CreationTime: '2026-03-01T08:00:00Z' }),
      cand('two-new', 'Ready', ['db:1', 'web:1'], { CreationTime: '2026-03-01T09:30:00Z' }),
      cand('three-building', 'Creating', images),
      cand('three-expired', 'Ready', images, { ExpireDateTime: '2026-03-01T09:59:59Z' }),
      cand('three-other-zone', 'Ready', images, { ZoneId: 'cn-hangzhou-i' }),
    ];
    assert.equal(pickImageCache(caches, images, 'cn-hangzhou-h', NOW)?.id, 'two-new');
    assert.equal(pickImageCache(caches, images, 'cn-hangzhou-i', NOW)?.id, 'three-other-zone');
    assert.equal(pickImageCache(caches, ['nothing:1'], 'cn-hangzhou-h', NOW), undefined);
    // Same second: the later row wins.
    const same = [cand('a', 'Ready', ['x:1'], { seq: 5 }), cand('b', 'Ready', ['x:1'], { seq: 9 }), cand('c', 'Ready', ['x:1'], { seq: 7 })];
    assert.equal(pickImageCache(same, ['x:1'], '', NOW)?.id, 'b');
    assert.deepEqual(rankMatches(same, ['x:1'], NOW).map((c) => c.id), ['b', 'c', 'a']);
    assert.deepEqual(rankMatches(caches, images, NOW, { fullMatch: true }).map((c) => c.id), ['three-other-zone']);
    assert.deepEqual(rankMatches(caches, images, NOW, { minCount: 2 }).map((c) => c.id), ['three-other-zone', 'two-new', 'two-old']);
  });

  it('expiry and progress', () => {
    assert.equal(expiryFor(new Date('2026-03-01T10:00:00Z'), 7), '2026-03-08T10:00:00Z');
    assert.equal(expiryFor(new Date('2026-03-01T10:00:00Z'), 0), '');
    assert.equal(isExpired({ ExpireDateTime: '' }, NOW), false);
    assert.equal(isExpired({ ExpireDateTime: NOW }, NOW), true);
    assert.equal(isExpired({ ExpireDateTime: '2026-03-01T10:00:01Z' }, NOW), false);
    assert.deepEqual([progressText(0, 3), progressText(1, 3), progressText(2, 3), progressText(3, 3)], ['0%', '33%', '66%', '100%']);
  });

  it('plans one host\'s work on one cache', () => {
    const rec = (Generation: number, Status: ImageCacheHostRecord['Status']): ImageCacheHostRecord => ({ Generation, Status, Digests: { 'a:1': 'sha256:aa', 'b:1': 'sha256:bb' }, Size: 1, Message: '', Time: NOW });
    const view = (status: string, over: Partial<HostCacheView['data']> = {}): HostCacheView => ({
      status,
      data: { ZoneId: '', ExpireDateTime: '', Generation: 2, Hosts: {}, Images: ['a:1', 'b:1'], ...over },
    });
    const H = 'host-a';
    const table: [string, HostCacheView | undefined, boolean, string][] = [
      ['gone, pinned', undefined, true, 'unpin'],
      ['gone, not pinned', undefined, false, 'none'],
      ['expired', view('Ready', { ExpireDateTime: '2026-03-01T09:00:00Z', Hosts: { [H]: rec(2, 'Ready') } }), true, 'unpin'],
      ['other zone', view('Preparing', { ZoneId: 'cn-hangzhou-i' }), false, 'none'],
      ['preparing', view('Preparing'), false, 'pull'],
      ['creating elsewhere', view('Creating'), false, 'pull'],
      ['ready elsewhere: fill this host', view('Ready'), false, 'pull'],
      ['held and pinned', view('Ready', { Hosts: { [H]: rec(2, 'Ready') } }), true, 'none'],
      ['held, pin lost', view('Ready', { Hosts: { [H]: rec(2, 'Ready') } }), false, 'pin'],
      ['updating, old generation held', view('Updating', { Hosts: { [H]: rec(1, 'Ready') } }), true, 'pull'],
      ['this host failed this generation', view('Ready', { Hosts: { [H]: rec(2, 'Failed') } }), false, 'none'],
      ['interrupted pull', view('Creating', { Hosts: { [H]: rec(2, 'Pulling') } }), false, 'pull'],
      ['failed cache', view('Failed'), false, 'none'],
      ['failed cache, pinned', view('Failed'), true, 'unpin'],
      ['update failed keeps old pins', view('UpdateFailed', { Hosts: { [H]: rec(1, 'Ready') } }), true, 'none'],
    ];
    for (const [name, cache, pinned, want] of table) assert.equal(planHostCache(cache, H, 'cn-hangzhou-h', pinned, NOW).kind, want, name);
    assert.deepEqual(planHostCache(view('Ready', { Hosts: { [H]: rec(2, 'Ready') } }), H, 'cn-hangzhou-h', false, NOW), { kind: 'pin', digests: ['sha256:aa', 'sha256:bb'] });
  });
});
