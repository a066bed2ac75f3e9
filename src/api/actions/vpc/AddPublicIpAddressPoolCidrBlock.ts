import { defineAction } from '../../action.ts';
import { formatCidr, overlaps, parseCidr } from '../../../core/cidr.ts';
import { invalid, missingParameter } from '../../../core/errors.ts';
import { KIND, type IpPoolData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireIpPool } from '../../resources/vpc.ts';

/** A pool takes blocks of /16 (65 536 addresses) down to single addresses. */
const MIN_PREFIX = 16;
const MAX_BLOCKS_PER_POOL = 100;

export const AddPublicIpAddressPoolCidrBlock = defineAction({
  product: 'vpc',
  name: 'AddPublicIpAddressPoolCidrBlock',
  summary: 'Adds a CIDR block of public addresses to a pool; no block may overlap any pool of the installation.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    PublicIpAddressPoolId: p.string({ required: true }),
    CidrBlock: p.string(),
    CidrMask: p.int(),
  },
  // Contract: on SQLite every transaction is serialised, so the overlap check and the write are atomic
  // for the whole installation. On PostgreSQL the pipeline's lock is per account; two accounts adding
  // overlapping blocks at the same instant could both pass (IPAM still never hands one address to
  // two EIPs, since every EIP address lives in the one `public` scope).
  async handler(ctx, params) {
    const pool = await requireIpPool(ctx.tx, ctx.account, params.RegionId, params.PublicIpAddressPoolId);
    if (params.CidrMask !== undefined && !params.CidrBlock)
      throw invalid('UnsupportedParameter', 'CidrMask is not supported: OpenECI has no inventory of public addresses to carve a block from. Give the block itself in CidrBlock.');
    if (!params.CidrBlock) throw missingParameter('CidrBlock');
    const c = parseCidr(params.CidrBlock);
    if (!c || c.prefix < MIN_PREFIX)
      throw invalid('InvalidCidrBlock.Malformed', `The specified CidrBlock "${params.CidrBlock}" is malformed: use an IPv4 network (host bits clear) with a prefix from /${MIN_PREFIX} to /32.`);
    if (pool.data.CidrBlocks.length >= MAX_BLOCKS_PER_POOL)
      throw invalid('QuotaExceeded.PublicIpAddressPoolCidrBlock', `A public IP address pool holds at most ${MAX_BLOCKS_PER_POOL} CIDR blocks.`);
    for (const other of await ctx.tx.list<IpPoolData>({ kind: KIND.ipPool })) {
      for (const b of other.data.CidrBlocks) {
        if (!overlaps(parseCidr(b.CidrBlock)!, c)) continue;
        // Another account's (or the system's) pool is not named: its existence is all the caller learns.
        const where = other.account === ctx.account ? `${b.CidrBlock} of pool ${other.id}` : 'a block already in use on this installation';
        throw invalid('InvalidCidrBlock.Overlapped', `The CIDR block ${params.CidrBlock} overlaps ${where}.`);
      }
    }
    const block = formatCidr(c);
    pool.data = { ...pool.data, CidrBlocks: [...pool.data.CidrBlocks, { CidrBlock: block, CreationTime: ctx.nowText }] };
    await ctx.tx.update(pool);
    // CidrBlock is what the SDKs read; PoolCidrBlock is kept for clients written against older docs.
    return { CidrBlock: block, PoolCidrBlock: block };
  },
});
