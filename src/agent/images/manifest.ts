// Manifests, indexes and image configs as the OCI image spec and Docker schema 2 define them: media types,
// validation of the fields the store relies on, and platform selection. Pure: no I/O.

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Everything the store can use, most specific first; registries pick the stored form from this list. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
}

/** The subset of the image config the store uses. */
export interface ImageConfigBlob {
  readonly platform: Platform;
  readonly diffIds: readonly string[];
  readonly env: string[];
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly workingDir: string;
  readonly user: string;
}

export class ManifestError extends Error {
  readonly unsupported: boolean;
  constructor(message: string, unsupported = false) {
    super(message);
    this.name = 'ManifestError';
    this.unsupported = unsupported;
  }
}

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

function descriptor(d: unknown, what: string): Descriptor {
  const o = d as Record<string, unknown>;
  if (!o || typeof o !== 'object') throw new ManifestError(`${what} is not an object`);
  if (typeof o.digest !== 'string' || !DIGEST_PATTERN.test(o.digest)) throw new ManifestError(`${what} has an unsupported digest ${JSON.stringify(o.digest)} (only sha256 is supported)`, true);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new ManifestError(`${what} has an invalid size`);
  const p = o.platform as Record<string, unknown> | undefined;
  return {
    mediaType: typeof o.mediaType === 'string' ? o.mediaType : '',
    digest: o.digest,
    size: o.size,
    ...(p && typeof p.os === 'string' && typeof p.architecture === 'string'
      ? { platform: { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' && p.variant ? { variant: p.variant } : {}) } }
      : {}),
    ...(o.annotations && typeof o.annotations === 'object' ? { annotations: o.annotations as Record<string, string> } : {}),
  };
}

/**
 * Parses a manifest or index body. `contentType` is the registry's Content-Type (or the descriptor's media
 * type); the body's own `mediaType` decides when present, and the shape decides when neither says.
 */
export function parseManifest(body: Buffer | string, contentType?: string): ImageManifest | ImageIndex {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.toString());
  } catch {
    throw new ManifestError('the manifest is not valid JSON');
  }
  if (!json || typeof json !== 'object') throw new ManifestError('the manifest is not a JSON object');
  const ct = (contentType ?? '').split(';')[0].trim();
  const mediaType = typeof json.mediaType === 'string' && json.mediaType ? json.mediaType : ct;
  if (json.schemaVersion === 1 || mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed)
    throw new ManifestError('Docker schema 1 manifests are not supported (re-push the image with a current client)', true);
  const isIndex = mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList || (!mediaType && Array.isArray(json.manifests));
  if (isIndex) {
    if (!Array.isArray(json.manifests)) throw new ManifestError('the index has no manifests list');
    return { kind: 'index', mediaType: mediaType || MEDIA.ociIndex, manifests: json.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)) };
  }
  if (mediaType && mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest)
    throw new ManifestError(`unsupported manifest media type ${mediaType}`, true);
  if (!json.config || !Array.isArray(json.layers)) throw new ManifestError('the manifest has no config or layers');
  const config = descriptor(json.config, 'config');
  const layers = json.layers.map((l, i) => descriptor(l, `layers[${i}]`));
  for (const l of layers) layerCompression(l.mediaType); // rejects unknown layer types early
  return { kind: 'manifest', mediaType: mediaType || MEDIA.ociManifest, config, layers };
}

/** The compression a layer's media type declares; magic bytes still decide when they disagree. */
export function layerCompression(mediaType: string): Compression {
  switch (mediaType) {
    case MEDIA.ociLayerGzip:
    case MEDIA.dockerLayerGzip:
    case MEDIA.dockerLayerForeign:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return 'gzip';
    case MEDIA.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    case MEDIA.ociLayer:
    case MEDIA.dockerLayer:
    case MEDIA.ociLayerNonDistributable:
    case '':
      return 'none';
    default:
      throw new ManifestError(`unsupported layer media type ${mediaType}`, true);
  }
}

/** Compression from the first bytes of a blob: gzip 1f 8b, zstd frame 28 b5 2f fd; anything else is a tar. */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

// The variant a platform has when none is written (containerd's platforms.Normalize).
function defaultVariant(arch: string): string | undefined {
  if (arch === 'arm64') return 'v8';
  if (arch === 'arm') return 'v7';
  return undefined;
}

/**
 * The index entry for `wanted`: os and architecture must match; a variant matches when equal, or when
 * either side leaves it out and the other is the architecture's default (arm64 = v8). Attestation
 * manifests (platform unknown/unknown) never match.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor | undefined {
  const want = wanted.variant ?? defaultVariant(wanted.architecture);
  const candidates = index.manifests.filter((m) => {
    if (!m.platform) return false;
    if (m.platform.os !== wanted.os || m.platform.architecture !== wanted.architecture) return false;
    const have = m.platform.variant ?? defaultVariant(m.platform.architecture);
    return have === want || (!wanted.variant && !m.platform.variant);
  });
  return candidates[0];
}

/** 'linux/amd64, linux/arm64/v8' — what an index offers, for the error when nothing matches. */
export function listPlatforms(index: ImageIndex): string {
  const ps = index.manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(m.platform!));
  return ps.length ? ps.join(', ') : 'none';
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function parseImageConfig(body: Buffer | string): ImageConfigBlob {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.toString());
  } catch {
    throw new ManifestError('the image config is not valid JSON');
  }
  const rootfs = json.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || !Array.isArray(rootfs.diff_ids)) throw new ManifestError('the image config has no rootfs.diff_ids');
  const diffIds = strings(rootfs.diff_ids);
  for (const d of diffIds) if (!DIGEST_PATTERN.test(d)) throw new ManifestError(`the image config has an unsupported diff_id ${d}`, true);
  const c = (json.config ?? {}) as Record<string, unknown>;
  return {
    platform: {
      os: typeof json.os === 'string' ? json.os : 'linux',
      architecture: typeof json.architecture === 'string' ? json.architecture : 'amd64',
      ...(typeof json.variant === 'string' && json.variant ? { variant: json.variant } : {}),
    },
    diffIds,
    env: strings(c.Env),
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    workingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : '',
    user: typeof c.User === 'string' ? c.User : '',
  };
}
