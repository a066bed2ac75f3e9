// The agent's image pulls for its containers: what the lifecycle planner sees of each container's image
// (lifecycle.ts ImageObservation) and the pulls it asks for, carried out in the background with the
// kubelet's back-off, reported as the reference's events (Pulling, Pulled with size and time, Failed).
// A group that matched an image cache is told so by the control plane at create (SuccessfulHitImageCache).
//
// Contracts:
// - One pull per (group, container, run) at a time; a request for a pull already under way is ignored.
//   The store itself does concurrent pulls of the same image or layer once (two groups pulling the same
//   image share the download).
// - A failed pull backs off per container: base, 2×base … up to max (kubelet: 10 s → 300 s), counted
//   from the failure. A failure the registry will answer the same way again (a wrong password, an unknown
//   image) backs off too: nothing retries in a storm.
// - The built-in busybox image is local to every host and never pulled (whatever the policy).
// - An image on the host counts as present for a group only when the group's account pulled it itself
//   (image-access.ts): another tenant's private image is never started without the registry's say.
// - Events are queued per group and taken by the agent's next observation of that group.

import type { ContainerGroupData, ContainerSpec } from '../../core/model.ts';
import type { ImageObservation } from './lifecycle.ts';
import { isBusyboxImage } from './busybox-image.ts';
import type { ImageAccess } from './image-access.ts';

/** The part of the image store (src/agent/images/image-store.ts) pulls need. */
export interface PullStore {
  pull(
    name: string,
    opts: {
      credentials?: readonly { Server: string; UserName: string; Password: string }[];
      plainHttpRegistries?: readonly string[];
      insecureRegistries?: readonly string[];
    },
  ): Promise<{ image: { digest: string; size: number }; downloadedBytes: number; durationMs: number; alreadyPresent: boolean }>;
  get(name: string): { digest: string; size: number } | undefined;
}

export interface PullEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface PullBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The kubelet's image pull back-off. */
export const DEFAULT_PULL_BACKOFF: PullBackoff = Object.freeze({ baseMs: 10_000, maxMs: 300_000 });

interface PullRecord {
  run: number;
  state: 'pulling' | 'pulled' | 'failed';
  message?: string;
  retryAt?: number;
  /** Consecutive failures (the back-off exponent); reset by a success. */
  failures: number;
}

export interface ContainerImageRef {
  readonly key: string;
  readonly spec: Pick<ContainerSpec, 'Image'>;
}

export class PullManager {
  readonly #store: PullStore;
  readonly #backoff: PullBackoff;
  readonly #now: () => number;
  readonly #wake: () => void;
  readonly #access: ImageAccess | undefined;
  /** `<groupId>/<key>` → the latest pull of that container. */
  readonly #records = new Map<string, PullRecord>();
  readonly #events = new Map<string, PullEvent[]>();

  /** `access` absent: every image on the host is present for every account (a single-tenant host). */
  constructor(opts: { store: PullStore; wake: () => void; now?: () => number; backoff?: PullBackoff; access?: ImageAccess }) {
    this.#access = opts.access;
    this.#store = opts.store;
    this.#wake = opts.wake;
    this.#now = opts.now ?? Date.now;
    this.#backoff = opts.backoff ?? DEFAULT_PULL_BACKOFF;
  }

  /**
   * What the planner sees of each container's image. `cachedImages`: the images of the image cache the
   * group matched (its names as the group gives them), served locally without a registry round trip.
   */
  observe(group: Pick<ContainerGroupData, 'ContainerGroupId'>, account: string, containers: readonly ContainerImageRef[], cachedImages: ReadonlySet<string> = new Set()): Record<string, ImageObservation> {
    const out: Record<string, ImageObservation> = {};
    for (const c of containers) {
      const image = c.spec.Image;
      if (isBusyboxImage(image)) {
        out[c.key] = { present: true, cached: true };
        continue;
      }
      const local = this.#store.get(image);
      const cached = local !== undefined && cachedImages.has(image);
      const present = local !== undefined && (cached || !this.#access || this.#access.allowed(local.digest, account));
      const rec = this.#records.get(`${group.ContainerGroupId}/${c.key}`);
      out[c.key] = {
        present,
        ...(cached ? { cached: true } : {}),
        ...(rec ? { pull: { run: rec.run, state: rec.state, ...(rec.message !== undefined ? { message: rec.message } : {}), ...(rec.retryAt !== undefined ? { retryAt: rec.retryAt } : {}) } } : {}),
      };
    }
    return out;
  }

  /** Starts the pull the planner asked for (a `pull` action), unless one for that container runs already. */
  request(group: Pick<ContainerGroupData, 'ContainerGroupId' | 'ImageRegistryCredentials' | 'PlainHttpRegistries' | 'InsecureRegistries'>, account: string, key: string, image: string, run: number): void {
    const id = `${group.ContainerGroupId}/${key}`;
    const prev = this.#records.get(id);
    if (prev?.state === 'pulling') return;
    const rec: PullRecord = { run, state: 'pulling', failures: prev?.failures ?? 0 };
    this.#records.set(id, rec);
    this.#tell(group.ContainerGroupId, { type: 'Normal', reason: 'Pulling', message: `Pulling image "${image}"` });
    const began = this.#now();
    void this.#store
      .pull(image, { credentials: group.ImageRegistryCredentials, plainHttpRegistries: group.PlainHttpRegistries, insecureRegistries: group.InsecureRegistries })
      .then(
        (r) => {
          rec.state = 'pulled';
          rec.failures = 0;
          this.#access?.grant(r.image.digest, account);
          const took = ((this.#now() - began) / 1000).toFixed(3);
          const message = r.alreadyPresent
            ? `Successfully pulled image "${image}" in ${took}s: the registry's ${r.image.digest} is already present. Image size: ${r.image.size} bytes.`
            : `Successfully pulled image "${image}" in ${took}s. Image size: ${r.image.size} bytes.`;
          this.#tell(group.ContainerGroupId, { type: 'Normal', reason: 'Pulled', message });
        },
        (e: unknown) => {
          rec.failures++;
          rec.state = 'failed';
          rec.message = e instanceof Error ? e.message : String(e);
          rec.retryAt = this.#now() + Math.min(this.#backoff.baseMs * 2 ** (rec.failures - 1), this.#backoff.maxMs);
          this.#tell(group.ContainerGroupId, { type: 'Warning', reason: 'Failed', message: `Failed to pull image "${image}": ${rec.message}` });
          this.#tell(group.ContainerGroupId, { type: 'Warning', reason: 'Failed', message: 'Error: ErrImagePull' });
        },
      )
      .finally(() => this.#wake());
  }

  /** The events queued for the group since the last call. */
  takeEvents(groupId: string): PullEvent[] {
    const ev = this.#events.get(groupId) ?? [];
    this.#events.delete(groupId);
    return ev;
  }

  /** Drops everything kept for a group (deleted). A pull under way finishes into the store unobserved. */
  forget(groupId: string): void {
    for (const id of [...this.#records.keys()]) if (id.startsWith(`${groupId}/`)) this.#records.delete(id);
    this.#events.delete(groupId);
  }

  #tell(groupId: string, e: PullEvent): void {
    const list = this.#events.get(groupId) ?? [];
    list.push(e);
    this.#events.set(groupId, list);
  }
}
