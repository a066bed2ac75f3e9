// The closed set of error kinds used inside OpenECI. Every failure is one of these; the API edge
// (src/api/envelope.ts) maps the kind to an HTTP status, and the `code` is the reference cloud's
// error code that clients branch on (`InvalidParameter`, `IncorrectEipStatus`, `QuotaExceeded.Eip`…).

export type ErrorKind =
  | 'InvalidInput' // 400: the request is malformed or violates a rule; retrying it unchanged fails again
  | 'Conflict' // 400: the resource's current state forbids the operation (IncorrectStatus…)
  | 'QuotaExceeded' // 400
  | 'Unauthenticated' // 400/403: signature, timestamp or nonce problems
  | 'Forbidden' // 403
  | 'NotFound' // 404
  | 'Unavailable' // 503: transient; the same ClientToken may be retried
  | 'Internal'; // 500

export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  /** HTTP status override for the few reference codes whose status differs from their kind's default. */
  readonly status: number | undefined;

  constructor(kind: ErrorKind, code: string, message: string, status?: number) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.code = code;
    this.status = status;
  }
}

export const invalid = (code: string, message: string): ApiError => new ApiError('InvalidInput', code, message);
export const notFound = (code: string, message: string): ApiError => new ApiError('NotFound', code, message);
export const conflict = (code: string, message: string): ApiError => new ApiError('Conflict', code, message);
export const forbidden = (code: string, message: string): ApiError => new ApiError('Forbidden', code, message);
export const quotaExceeded = (code: string, message: string): ApiError => new ApiError('QuotaExceeded', code, message);

export const missingParameter = (name: string): ApiError =>
  invalid('MissingParameter', `The input parameter "${name}" that is mandatory for processing this request is not supplied.`);

export const invalidParameter = (name: string, detail?: string): ApiError =>
  invalid('InvalidParameter', `Specified value of "${name}" is not valid.${detail ? ' ' + detail : ''}`);

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;
