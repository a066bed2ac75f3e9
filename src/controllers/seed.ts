// Start-up seeding: the system's public IP pools from the configuration, and access keys. Idempotent:
// every server of an installation may run it at every start.

import { randomBytes } from 'node:crypto';
import { formatCidr, parseCidr } from '../core/cidr.ts';
import type { ServerConfig } from '../core/config.ts';
import { KIND, SYSTEM_ACCOUNT, type IpPoolData } from '../core/model.ts';
import { rfc3339 } from '../core/time.ts';
import type { AccessKey, Store } from '../store/store.ts';

/** The id of the system pool seeded from `config.eipPools[i]`. */
export const systemPoolId = (i: number): string => `pippool-system${i}`;

export async function seedSystem(store: Store, config: ServerConfig, now = new Date()): Promise<void> {
  await store.tx(async (tx) => {
    for (const [i, seed] of config.eipPools.entries()) {
      const cidr = parseCidr(seed.cidr);
      if (!cidr) throw new Error(`config: EIP pool CIDR "${seed.cidr}" is not a valid CIDR`);
      const id = systemPoolId(i);
      if (await tx.get(KIND.ipPool, id)) continue;
      const data: IpPoolData = {
        PublicIpAddressPoolId: id,
        Name: `system-${i}`,
        Description: 'Seeded from the server configuration; every account allocates from it by default.',
        Isp: seed.isp,
        BizType: 'Default',
        CreationTime: rfc3339(now),
        CidrBlocks: [{ CidrBlock: formatCidr(cidr), CreationTime: rfc3339(now) }],
        Tags: [],
      };
      // System pools serve every region: their region column is '*'.
      await tx.insert({ kind: KIND.ipPool, id, account: SYSTEM_ACCOUNT, region: '*', name: data.Name, status: 'Created', parent: '', createdAt: data.CreationTime, data });
    }
  }, 'openeci:seed');
}

/** Creates an access key pair for an account. */
export async function createAccessKey(store: Store, account: string): Promise<AccessKey> {
  const key: AccessKey = {
    accessKeyId: 'LTAI' + randomBytes(10).toString('hex'),
    accessKeySecret: randomBytes(20).toString('base64url'),
    account,
  };
  await store.putAccessKey(key);
  return key;
}
