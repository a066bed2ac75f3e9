// The host's images as the runtime sees them at a start: the image store (src/agent/images) for every
// image a registry serves, and the built-in busybox image, which every host has without a registry.
//
// Contracts:
// - `resolve` is a local lookup (no network): the store first (a pulled or imported image under any of
//   its names), then the built-in busybox; anything else throws ImageNotFoundError.
// - Leases are the store's (files under its root), so a container keeps its image across an agent restart.

import { ImageNotFoundError, isBusyboxImage, resolveImage, type ImageConfig } from './busybox-image.ts';
import type { ImageSource } from './runtime.ts';

/** The part of the image store (src/agent/images/image-store.ts ImageStore) the host uses. */
export interface StoreImage {
  readonly digest: string;
  readonly size: number;
  readonly config: { readonly env: readonly string[]; readonly entrypoint: readonly string[]; readonly cmd: readonly string[]; readonly workingDir: string; readonly user: string };
  readonly lowerdir: string;
}

export interface HostImageStore {
  get(name: string): StoreImage | undefined;
  lease(digest: string, holder: string): void;
  release(holder: string): void;
}

export class HostImages implements ImageSource {
  readonly #stateDir: string;
  readonly store: HostImageStore;

  constructor(stateDir: string, store: HostImageStore) {
    this.#stateDir = stateDir;
    this.store = store;
  }

  resolve(name: string): ImageConfig {
    const img = this.store.get(name);
    if (img)
      return {
        name,
        rootfs: img.lowerdir,
        env: [...img.config.env],
        entrypoint: [...img.config.entrypoint],
        cmd: [...img.config.cmd],
        workingDir: img.config.workingDir,
        user: img.config.user,
        digest: img.digest,
      };
    if (isBusyboxImage(name)) return resolveImage(this.#stateDir, name);
    throw new ImageNotFoundError(name);
  }

  lease(digest: string, holder: string): void {
    this.store.lease(digest, holder);
  }

  release(holder: string): void {
    this.store.release(holder);
  }
}
