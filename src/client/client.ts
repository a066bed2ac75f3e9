// A typed client of the OpenECI API, used by the CLI, the virtual node and tests. It signs with V3
// (ACS3-HMAC-SHA256), as the official SDKs do by default, and sends parameters in the query.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { PRODUCTS, type Product } from '../api/action.ts';
import { percentEncode } from '../api/signature.ts';
import { flattenParams } from '../core/params.ts';

export interface ClientConfig {
  /** host:port */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly regionId: string;
}

export class ClientError extends Error {
  readonly code: string;
  readonly status: number;
  readonly requestId: string;
  constructor(code: string, message: string, status: number, requestId: string) {
    super(`${code}: ${message}`);
    this.name = 'ClientError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export class EciClient {
  readonly config: ClientConfig;
  constructor(config: ClientConfig) {
    this.config = config;
  }

  /** Calls an action. `params` may be nested; it is flattened to `Name.N.Field` keys. RegionId defaults. */
  async call<T = Record<string, any>>(product: Product, action: string, params: Record<string, unknown> = {}): Promise<T> {
    const flat = flattenParams({ RegionId: this.config.regionId, ...params });
    const pairs = [...flat].map(([k, v]) => [percentEncode(k), percentEncode(v)] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const query = pairs.map(([k, v]) => `${k}=${v}`).join('&');
    const headers: Record<string, string> = {
      host: this.config.endpoint,
      'x-acs-action': action,
      'x-acs-version': PRODUCTS[product].version,
      'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'x-acs-signature-nonce': randomBytes(16).toString('hex'),
      'x-acs-content-sha256': EMPTY_SHA256,
    };
    const signed = Object.keys(headers).sort();
    const canonical = ['POST', '/', query, signed.map((h) => `${h}:${headers[h]}\n`).join(''), signed.join(';'), EMPTY_SHA256].join('\n');
    const sts = 'ACS3-HMAC-SHA256\n' + createHash('sha256').update(canonical).digest('hex');
    const signature = createHmac('sha256', this.config.accessKeySecret).update(sts).digest('hex');
    headers.authorization = `ACS3-HMAC-SHA256 Credential=${this.config.accessKeyId},SignedHeaders=${signed.join(';')},Signature=${signature}`;
    const [host, port] = this.config.endpoint.split(':');
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host, port: Number(port || 80), method: 'POST', path: '/?' + query, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    let json: any;
    try {
      json = JSON.parse(body);
    } catch {
      throw new ClientError('InvalidResponse', `HTTP ${status}: ${body.slice(0, 200)}`, status, '');
    }
    if (status >= 400 || json.Code !== undefined) throw new ClientError(json.Code ?? 'Unknown', json.Message ?? '', status, json.RequestId ?? '');
    return json as T;
  }
}
