// The edge: domain errors become the reference's error envelope, in exactly one place.

import { ApiError, type ErrorKind } from '../core/errors.ts';

const STATUS: Record<ErrorKind, number> = {
  InvalidInput: 400,
  Conflict: 400,
  QuotaExceeded: 400,
  Unauthenticated: 400,
  Forbidden: 403,
  NotFound: 404,
  Unavailable: 503,
  Internal: 500,
};

export interface ErrorBody {
  RequestId: string;
  HostId: string;
  Code: string;
  Message: string;
  Recommend: string;
}

export function errorResponse(e: unknown, requestId: string, hostId: string, debug: boolean): { status: number; body: ErrorBody } {
  if (e instanceof ApiError) {
    return {
      status: e.status ?? STATUS[e.kind],
      body: { RequestId: requestId, HostId: hostId, Code: e.code, Message: e.message, Recommend: recommend(e.code) },
    };
  }
  const detail = debug && e instanceof Error ? ` ${e.stack ?? e.message}` : '';
  return {
    status: 500,
    body: {
      RequestId: requestId,
      HostId: hostId,
      Code: 'InternalError',
      Message: `The request processing has failed due to some unknown error. RequestId: ${requestId}.${detail}`,
      Recommend: recommend('InternalError'),
    },
  };
}

function recommend(code: string): string {
  return `See the OpenECI error reference for ${code} (docs/errors.md).`;
}
