// Image names as users write them (`nginx`, `nginx:1.25`, `team/app@sha256:…`, `127.0.0.1:5000/team/app:v1`),
// parsed into the parts a registry client needs. Pure: no I/O.
//
// The grammar is the Docker/distribution reference grammar
// (github.com/distribution/reference, reference.go), with its normalisation rules:
// - the first path component is a registry when it contains '.' or ':' or is `localhost`; otherwise the
//   registry is `docker.io` (and `index.docker.io` is the same registry);
// - a single-component Docker Hub repository lives under `library/`;
// - neither tag nor digest means the tag `latest`; a tag and a digest may both be given (the digest wins
//   when pulling, the tag is kept for display).
// Only sha256 digests are accepted: the store addresses content by sha256 and every registry serves it.

export interface ImageReference {
  /** 'docker.io' or 'host[:port]' as written (IPv6 hosts keep their brackets). */
  readonly registry: string;
  /** 'library/nginx', 'team/app'. */
  readonly repository: string;
  /** 'latest' when neither tag nor digest was given. */
  readonly tag?: string;
  /** 'sha256:<64 hex>'. */
  readonly digest?: string;
  /** 'docker.io/library/nginx:1.25' | '127.0.0.1:5000/team/app@sha256:…' | 'host/app:v1@sha256:…'. */
  readonly canonical: string;
}

export class InvalidImageReferenceError extends Error {
  readonly image: string;
  constructor(image: string, reason: string) {
    super(`invalid image reference ${JSON.stringify(image)}: ${reason}`);
    this.name = 'InvalidImageReferenceError';
    this.image = image;
  }
}

export const DOCKER_HUB = 'docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?$/;
// distribution's limit on the repository name including the registry.
const MAX_NAME = 255;

export function parseImageReference(name: string): ImageReference {
  const input = name.trim();
  if (input === '') throw new InvalidImageReferenceError(name, 'the name is empty');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidImageReferenceError(name, `the digest must be sha256:<64 lowercase hex>, got ${JSON.stringify(digest)}`);
  }
  let tag: string | undefined;
  // The tag is after the last ':' that follows the last '/', so a registry port is not mistaken for one.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidImageReferenceError(name, `invalid tag ${JSON.stringify(tag)} (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`);
  }
  if (rest === '') throw new InvalidImageReferenceError(name, 'the repository is empty');
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw new InvalidImageReferenceError(name, `invalid registry host ${JSON.stringify(registry)}`);
    if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  }
  for (const c of parts) {
    if (c === '') throw new InvalidImageReferenceError(name, 'the repository has an empty path component');
    if (!COMPONENT.test(c))
      throw new InvalidImageReferenceError(name, `invalid repository component ${JSON.stringify(c)} (lowercase letters, digits and separators '.', '_', '__', '-' between them)`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (registry.length + 1 + repository.length > MAX_NAME) throw new InvalidImageReferenceError(name, `the name is longer than ${MAX_NAME} characters`);
  if (!tag && !digest) tag = 'latest';
  const canonical = `${registry}/${repository}${tag ? ':' + tag : ''}${digest ? '@' + digest : ''}`;
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), canonical };
}

/** The host serving the registry's API: Docker Hub's API is not at docker.io. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/**
 * The registry a credential's `Server` names, in the form `ImageReference.registry` uses: users write
 * `https://index.docker.io/v1/`, `registry.example.com/`, `docker.io`…, all meaning one registry.
 */
export function normalizeRegistryServer(server: string): string {
  let s = server.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  s = s.toLowerCase();
  if (s === 'index.docker.io' || s === 'registry-1.docker.io') return DOCKER_HUB;
  return s;
}

/** The reference the registry is asked for: the digest when there is one, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
