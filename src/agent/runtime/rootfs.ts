// A container's root filesystem: overlayfs with the image rootfs as the read-only lower layer and a
// per-container upper/work directory. Nothing is copied, so a rootfs costs one mount.
//
// Contracts:
// - `mountRootfs` is idempotent: an already-mounted target is left as it is (a restarted container keeps
//   its writable layer, as a Kubernetes container restart keeps nothing else but the pod's volumes —
//   callers that want a fresh layer call `removeRootfs` first).
// - `unmountRootfs` succeeds when nothing is mounted; it retries EBUSY briefly (a container process may
//   still be exiting) and then detaches lazily so a teardown never wedges.

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, runFromShell } from '../net/exec.ts';

export interface RootfsPaths {
  readonly upper: string;
  readonly work: string;
  readonly merged: string;
}

export function rootfsPaths(containerDir: string): RootfsPaths {
  return { upper: join(containerDir, 'upper'), work: join(containerDir, 'work'), merged: join(containerDir, 'rootfs') };
}

/** Mount points currently listed in /proc/self/mountinfo (octal escapes decoded). */
export function listMountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

export function isMounted(path: string): boolean {
  return listMountPoints().includes(path);
}

export async function mountRootfs(lower: string, containerDir: string): Promise<string> {
  const p = rootfsPaths(containerDir);
  if (isMounted(p.merged)) return p.merged;
  for (const d of [p.upper, p.work, p.merged]) mkdirSync(d, { recursive: true });
  // From the agent's shell, not a fork of the agent (exec.ts runFromShell): this is on every start. A
  // failed mount mounted nothing, so the retry runFromShell makes on failure is safe.
  await runFromShell(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${p.upper},workdir=${p.work}`, p.merged]);
  return p.merged;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Unmounts `path` if mounted: retries EBUSY for ~1 s, then a lazy detach. */
export async function unmount(path: string): Promise<void> {
  for (let attempt = 0; isMounted(path); attempt++) {
    try {
      await run(attempt < 10 ? ['umount', path] : ['umount', '--lazy', path]);
    } catch (e) {
      if (attempt >= 10) throw e;
      await sleep(100);
    }
  }
}

export async function unmountRootfs(containerDir: string): Promise<void> {
  await unmount(rootfsPaths(containerDir).merged);
}

/** Unmounts and deletes the container's layers. */
export async function removeRootfs(containerDir: string): Promise<void> {
  await unmountRootfs(containerDir);
  const p = rootfsPaths(containerDir);
  for (const d of [p.merged, p.upper, p.work]) if (existsSync(d)) rmSync(d, { recursive: true, force: true });
}
