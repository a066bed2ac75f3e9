import { defineAction } from '../../action.ts';
import { KIND } from '../../../core/model.ts';
import { p } from '../../../core/params.ts';
import { requireSnatEntry, requireSnatTable } from '../../resources/nat.ts';

export const DeleteSnatEntry = defineAction({
  product: 'vpc',
  name: 'DeleteSnatEntry',
  summary: 'Deletes a SNAT entry from its SNAT table.',
  mutating: true,
  params: {
    RegionId: p.string({ required: true }),
    SnatTableId: p.string({ required: true }),
    SnatEntryId: p.string({ required: true }),
  },
  async handler(ctx, params) {
    const nat = await requireSnatTable(ctx.tx, ctx.account, params.RegionId, params.SnatTableId);
    const entry = await requireSnatEntry(ctx.tx, nat, params.SnatEntryId);
    await ctx.tx.delete(KIND.snatEntry, entry.id);
    return {};
  },
});
