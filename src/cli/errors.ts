// How the CLI fails. Exit codes: 0 success, 1 the API (or the network) refused, 2 the command line
// itself is wrong (unknown command, unknown flag, missing argument) and nothing was sent.

import { ClientError } from '../client/client.ts';

export const EXIT_OK = 0;
export const EXIT_API = 1;
export const EXIT_USAGE = 2;

/** A failure the CLI detects itself; printed as `eci: <message>`, or as is when it names its command (`eci run: …`). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_USAGE) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** `Code: Message (RequestId …)`, the one line an API error prints. */
export function formatApiError(e: ClientError): string {
  const message = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
  return `${e.code}: ${message}${e.requestId ? ` (RequestId ${e.requestId})` : ''}`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN']);

/** Turns any failure into the line to print and the exit code. */
export function describeFailure(e: unknown, endpoint: string | undefined): { line: string; exitCode: number } {
  if (e instanceof ClientError) return { line: formatApiError(e), exitCode: EXIT_API };
  if (e instanceof CliError) return { line: e.message.startsWith('eci ') ? e.message : `eci: ${e.message}`, exitCode: e.exitCode };
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code))
    return {
      line: `eci: cannot reach OpenECI at ${endpoint ?? 'the endpoint'} (${code}). Is \`eci dev\` or \`eci server\` running? Set the endpoint with --endpoint or ECI_ENDPOINT.`,
      exitCode: EXIT_API,
    };
  return { line: `eci: ${e instanceof Error ? e.message : String(e)}`, exitCode: EXIT_API };
}
