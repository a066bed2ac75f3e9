import { defineAction } from '../../action.ts';
import { missingParameter } from '../../../core/errors.ts';
import { KIND, type ForwardEntryData } from '../../../core/model.ts';
import { parseNatPort, formatNatPort, parseNatProtocol } from '../../../core/nat.ts';
import { p } from '../../../core/params.ts';
import { pageByNumber } from '../../resources/common.ts';
import { requireForwardTable, requireNatGateway } from '../../resources/nat.ts';

/** A port filter compares normalised forms, so `Any` finds `any` and `80/80` finds `80`. */
const samePort = (stored: string, wanted: string): boolean => {
  const w = parseNatPort(wanted);
  return w !== undefined && formatNatPort(w) === stored;
};

export const DescribeForwardTableEntries = defineAction({
  product: 'vpc',
  name: 'DescribeForwardTableEntries',
  summary: 'Lists the DNAT entries of a forward table (or of a NAT gateway), filtered by entry, addresses, ports, protocol or name.',
  mutating: false,
  params: {
    RegionId: p.string({ required: true }),
    ForwardTableId: p.string(),
    NatGatewayId: p.string(),
    ForwardEntryId: p.string(),
    ForwardEntryName: p.string(),
    ExternalIp: p.string(),
    ExternalPort: p.string(),
    InternalIp: p.string(),
    InternalPort: p.string(),
    IpProtocol: p.string(),
    PageNumber: p.int({ min: 1 }),
    PageSize: p.int({ min: 1, max: 50 }),
  },
  async handler(ctx, params) {
    if (!params.ForwardTableId && !params.NatGatewayId) throw missingParameter('ForwardTableId');
    const nat = params.ForwardTableId
      ? await requireForwardTable(ctx.tx, ctx.account, params.RegionId, params.ForwardTableId)
      : await requireNatGateway(ctx.tx, ctx.account, params.NatGatewayId!);
    const page = await pageByNumber<ForwardEntryData>(
      ctx.tx,
      { kind: KIND.forwardEntry, account: ctx.account, parent: nat.id, ids: params.ForwardEntryId ? [params.ForwardEntryId] : undefined, name: params.ForwardEntryName },
      params.PageNumber,
      params.PageSize,
      (r) =>
        (!params.NatGatewayId || params.NatGatewayId === nat.id) &&
        (!params.ExternalIp || r.data.ExternalIp === params.ExternalIp) &&
        (!params.InternalIp || r.data.InternalIp === params.InternalIp) &&
        (!params.ExternalPort || samePort(r.data.ExternalPort, params.ExternalPort)) &&
        (!params.InternalPort || samePort(r.data.InternalPort, params.InternalPort)) &&
        (!params.IpProtocol || r.data.IpProtocol === parseNatProtocol(params.IpProtocol)),
      50,
    );
    return {
      TotalCount: page.total,
      PageNumber: page.pageNumber,
      PageSize: page.pageSize,
      ForwardTableEntries: {
        ForwardTableEntry: page.items.map((r) => ({
          ForwardEntryId: r.id,
          ForwardTableId: r.data.ForwardTableId,
          NatGatewayId: r.data.NatGatewayId,
          ForwardEntryName: r.data.ForwardEntryName,
          ExternalIp: r.data.ExternalIp,
          ExternalPort: r.data.ExternalPort,
          InternalIp: r.data.InternalIp,
          InternalPort: r.data.InternalPort,
          IpProtocol: r.data.IpProtocol,
          Status: r.status,
        })),
      },
    };
  },
});
