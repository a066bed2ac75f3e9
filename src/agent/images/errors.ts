// The closed set of image failures. The lifecycle turns an ImagePullError into the group's Failed/BackOff
// events (its message is what the user reads, so it carries the registry's own error text, the host and
// the digest) and decides from `retryable` whether backing off can help.

export type ImagePullErrorCode =
  | 'Unauthorized' // 401 after credentials were sent, or credentials needed and none given
  | 'NotFound' // 404, MANIFEST_UNKNOWN, NAME_UNKNOWN, or no manifest for the requested platform
  | 'Denied' // 403
  | 'DigestMismatch' // a blob's bytes (or its unpacked diff_id) differ from the digest that names them
  | 'Unavailable' // connection errors, 5xx, 429, truncated bodies (after the store's own retries)
  | 'Unsupported' // a manifest schema, media type or layer the store cannot use
  | 'InvalidReference'
  | 'TLS' // certificate verification or protocol mismatch (http vs https)
  | 'Aborted';

export class ImagePullError extends Error {
  readonly image: string;
  readonly code: ImagePullErrorCode;
  /** True when the same pull may succeed later without any change (the store already retried it). */
  readonly retryable: boolean;
  /** The registry's HTTP status, when the failure was an HTTP answer. */
  readonly status?: number;
  constructor(image: string, code: ImagePullErrorCode, message: string, opts: { retryable?: boolean; status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ImagePullError';
    this.image = image;
    this.code = code;
    this.retryable = opts.retryable ?? (code === 'Unavailable');
    if (opts.status !== undefined) this.status = opts.status;
  }
}

/** `remove` of an image a container still uses (a lease, or a mounted overlay over its layers). */
export class ImageInUseError extends Error {
  readonly image: string;
  readonly holders: readonly string[];
  constructor(image: string, holders: readonly string[]) {
    super(`image ${image} is in use by ${holders.join(', ')}; remove the containers first or force the removal`);
    this.name = 'ImageInUseError';
    this.image = image;
    this.holders = holders;
  }
}

/** A local lookup (`remove`, `lease`) of an image the store does not have. */
export class ImageNotFoundError extends Error {
  readonly image: string;
  constructor(image: string) {
    super(`image ${image} is not in the local store`);
    this.name = 'ImageNotFoundError';
    this.image = image;
  }
}

/** `import` of a path that is neither an OCI image layout nor a `docker save` tarball, or is inconsistent. */
export class ImageImportError extends Error {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(`cannot import ${path}: ${reason}`);
    this.name = 'ImageImportError';
    this.path = path;
  }
}
