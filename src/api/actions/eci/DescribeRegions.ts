import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';

export const DescribeRegions = defineAction({
  product: 'eci',
  name: 'DescribeRegions',
  summary: 'Lists the regions and zones this installation serves.',
  mutating: false,
  params: { RegionId: p.string() },
  async handler(ctx, params) {
    const regions = ctx.config.regions.filter((r) => !params.RegionId || r.regionId === params.RegionId);
    return {
      Regions: regions.map((r) => ({
        RegionId: r.regionId,
        RegionEndpoint: 'eci.' + r.regionId + '.local',
        Zones: [...r.zones],
        RecommendZones: [...r.zones],
      })),
    };
  },
});
