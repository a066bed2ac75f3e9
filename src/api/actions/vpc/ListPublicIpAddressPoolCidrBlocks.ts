import { defineAction } from '../../action.ts';
import { parseIp } from '../../../core/cidr.ts';
import { p } from '../../../core/params.ts';
import { blockUsage, eipsOfPool, requireIpPool } from '../../resources/vpc.ts';

export const ListPublicIpAddressPoolCidrBlocks = defineAction({
  product: 'vpc',
  name: 'ListPublicIpAddressPoolCidrBlocks',
  summary: 'Lists the CIDR blocks of a public IP address pool with their address usage (token paging).',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    PublicIpAddressPoolId: p.string({ required: true }),
    CidrBlock: p.string(),
    NextToken: p.string({ pattern: /^\d{1,6}$/, hint: 'use the NextToken of the previous page' }),
    MaxResults: p.int({ min: 10, max: 100, default: 10 }),
  },
  async handler(ctx, params) {
    const pool = await requireIpPool(ctx.tx, ctx.account, params.RegionId, params.PublicIpAddressPoolId);
    const ips = (await eipsOfPool(ctx.tx, pool)).map((e) => parseIp(e.data.IpAddress)!);
    const blocks = pool.data.CidrBlocks.filter((b) => !params.CidrBlock || b.CidrBlock === params.CidrBlock);
    // Blocks are only ever appended, so the index into the pool's list is a stable token.
    const start = params.NextToken ? Number(params.NextToken) : 0;
    const page = blocks.slice(start, start + params.MaxResults);
    return {
      TotalCount: blocks.length,
      NextToken: start + page.length < blocks.length ? String(start + page.length) : '',
      PublicIpPoolCidrBlockList: page.map((b) => {
        const u = blockUsage(b.CidrBlock, ips);
        return {
          PublicIpAddressPoolId: pool.id,
          CidrBlock: b.CidrBlock,
          Status: 'Created',
          TotalIpNum: u.total,
          UsedIpNum: u.used,
          CreationTime: b.CreationTime,
        };
      }),
    };
  },
});
