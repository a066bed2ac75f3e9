import { defineAction } from '../../action.ts';
import { missingParameter } from '../../../core/errors.ts';
import { KIND, type SnatEntryData } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { pageByNumber } from '../../resources/common.ts';
import { requireNatGateway, requireSnatTable, snatIpsOf } from '../../resources/nat.ts';

export const DescribeSnatTableEntries = defineAction({
  product: 'vpc',
  name: 'DescribeSnatTableEntries',
  summary: 'Lists the SNAT entries of a SNAT table (or of a NAT gateway), filtered by entry, EIP, source or name.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    SnatTableId: p.string(),
    NatGatewayId: p.string(),
    SnatEntryId: p.string(),
    SnatIp: p.string(),
    SourceCIDR: p.string(),
    SourceVSwitchId: p.string(),
    SnatEntryName: p.string(),
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
  },
  async handler(ctx, params) {
    if (!params.SnatTableId && !params.NatGatewayId) throw missingParameter('SnatTableId');
    const nat = params.SnatTableId
      ? await requireSnatTable(ctx.tx, ctx.account, params.RegionId, params.SnatTableId)
      : await requireNatGateway(ctx.tx, ctx.account, params.NatGatewayId!);
    const page = await pageByNumber<SnatEntryData>(
      ctx.tx,
      { kind: KIND.snatEntry, account: ctx.account, parent: nat.id, ids: params.SnatEntryId ? [params.SnatEntryId] : undefined, name: params.SnatEntryName },
      params.PageNumber,
      params.PageSize,
      (r) =>
        (!params.NatGatewayId || params.NatGatewayId === nat.id) &&
        (!params.SnatIp || snatIpsOf(r.data).includes(params.SnatIp)) &&
        (!params.SourceCIDR || r.data.SourceCIDR === params.SourceCIDR) &&
        (!params.SourceVSwitchId || r.data.SourceVSwitchId === params.SourceVSwitchId),
      50,
    );
    return {
      TotalCount: page.total,
      PageNumber: page.pageNumber,
      PageSize: page.pageSize,
      SnatTableEntries: {
        SnatTableEntry: page.items.map((r) => ({
          SnatEntryId: r.id,
          SnatTableId: r.data.SnatTableId,
          NatGatewayId: r.data.NatGatewayId,
          SnatIp: r.data.SnatIp,
          SourceCIDR: r.data.SourceCIDR,
          SourceVSwitchId: r.data.SourceVSwitchId,
          SnatEntryName: r.data.SnatEntryName,
          // The reference answers the affinity as a string.
          EipAffinity: String(r.data.EipAffinity),
          NetworkInterfaceId: '',
          Status: r.status,
        })),
      },
    };
  },
});
