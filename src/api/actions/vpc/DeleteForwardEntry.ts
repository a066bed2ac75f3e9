import { defineAction } from '../../action.ts';
import { KIND } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireForwardEntry, requireForwardTable } from '../../resources/nat.ts';

export const DeleteForwardEntry = defineAction({
  product: 'vpc',
  name: 'DeleteForwardEntry',
  summary: 'Deletes a DNAT entry from its forward table.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    ForwardTableId: p.string({ required: true }),
    ForwardEntryId: p.string({ required: true }),
  },
  async handler(ctx, params) {
    const nat = await requireForwardTable(ctx.tx, ctx.account, params.RegionId, params.ForwardTableId);
    const entry = await requireForwardEntry(ctx.tx, nat, params.ForwardEntryId);
    await ctx.tx.delete(KIND.forwardEntry, entry.id);
    return {};
  },
});
