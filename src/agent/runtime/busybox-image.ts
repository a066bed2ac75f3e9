// The built-in `busybox` image, until the image store lands: a rootfs directory assembled once per host
// from the host's static busybox (Debian busybox-static), so instances run with no registry at all.
//
// Contracts:
// - `ensureBusyboxImage` is idempotent and safe to call concurrently (also from two agents sharing a state
//   dir): the rootfs is built in a private temporary directory and renamed into place, so a reader only
//   ever sees a missing or a complete rootfs. It is never written to afterwards: containers use it as
//   the read-only lower layer of their overlayfs.
// - `resolveImage` accepts only the names that mean this image; any other name throws ImageNotFoundError,
//   which the agent reports as a Failed pull event.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What a container inherits from its image when the spec leaves it out (the OCI image config subset we use). */
export interface ImageConfig {
  readonly name: string;
  /** The read-only root filesystem (overlayfs lowerdir). */
  readonly rootfs: string;
  readonly env: readonly string[];
  /** The image's ENTRYPOINT: replaced by the container's Commands. */
  readonly entrypoint: readonly string[];
  /** The image's CMD: the default arguments, replaced by the container's Args (or dropped with Commands). */
  readonly cmd: readonly string[];
  /** '' = `/`. */
  readonly workingDir: string;
  /** The image's USER (`uid[:gid]` or names from the image's /etc/passwd); '' = root. */
  readonly user: string;
  /** The manifest digest (ImageID); '' for the built-in image. */
  readonly digest: string;
}

export class ImageNotFoundError extends Error {
  readonly image: string;
  constructor(image: string) {
    super(`Image "${image}" is not present on this host: it has not been pulled (or was removed).`);
    this.name = 'ImageNotFoundError';
    this.image = image;
  }
}

export const BUSYBOX_BINARY = '/bin/busybox';

/** True for `busybox`, `busybox:latest`, `library/busybox…`, `docker.io/library/busybox…` (any tag or digest). */
export function isBusyboxImage(image: string): boolean {
  const bare = image.replace(/^(docker\.io\/|index\.docker\.io\/|registry-1\.docker\.io\/)/, '').replace(/^library\//, '');
  const repo = bare.split('@')[0].split(':')[0];
  return repo === 'busybox';
}

export function busyboxRootfs(stateDir: string): string {
  return join(stateDir, 'images', 'busybox', 'rootfs');
}

/** The image config for `image`, assembling the busybox rootfs on first use. */
export function resolveImage(stateDir: string, image: string): ImageConfig {
  if (!isBusyboxImage(image)) throw new ImageNotFoundError(image);
  return {
    name: image,
    rootfs: ensureBusyboxImage(stateDir),
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    entrypoint: [],
    cmd: ['sh'],
    workingDir: '',
    user: '',
    digest: '',
  };
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n';
const GROUP = 'root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\ntty:x:5:\nnogroup:x:65534:\n';

/** Builds `<state>/images/busybox/rootfs` if missing; returns its path. */
export function ensureBusyboxImage(stateDir: string): string {
  const rootfs = busyboxRootfs(stateDir);
  if (existsSync(join(rootfs, 'bin', 'busybox'))) return rootfs;
  if (!existsSync(BUSYBOX_BINARY)) throw new Error(`${BUSYBOX_BINARY} is missing: install busybox-static (scripts/setup.sh).`);
  const tmp = `${rootfs}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home', 'var/tmp', 'tmp', 'proc', 'sys', 'dev', 'run'])
      mkdirSync(join(tmp, d), { recursive: true });
    chmodSync(join(tmp, 'tmp'), 0o1777);
    chmodSync(join(tmp, 'var/tmp'), 0o1777);
    copyFileSync(BUSYBOX_BINARY, join(tmp, 'bin', 'busybox'));
    chmodSync(join(tmp, 'bin', 'busybox'), 0o755);
    // --list-full gives each applet's conventional place (usr/bin/env, sbin/ifconfig…), so shebangs work.
    const applets = execFileSync(BUSYBOX_BINARY, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const applet of applets) {
      const path = join(tmp, applet);
      if (applet === 'bin/busybox' || existsSync(path)) continue;
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync('/bin/busybox', path);
    }
    writeFileSync(join(tmp, 'etc', 'passwd'), PASSWD);
    writeFileSync(join(tmp, 'etc', 'group'), GROUP);
    // Mount points for the per-group files bind-mounted by the bundle.
    for (const f of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf']) writeFileSync(join(tmp, f), '');
    mkdirSync(dirname(rootfs), { recursive: true });
    try {
      renameSync(tmp, rootfs);
    } catch (e) {
      // Another builder won the race: its rootfs is complete, ours is discarded.
      if (!existsSync(join(rootfs, 'bin', 'busybox'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return rootfs;
}
