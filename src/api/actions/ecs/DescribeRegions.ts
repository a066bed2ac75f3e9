import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';

export const DescribeRegions = defineAction({
  product: 'ecs',
  name: 'DescribeRegions',
  summary: 'Lists the regions this installation serves (ECS form: {Regions:{Region:[…]}}).',
  mutating: false,
  params: {
    RegionId: p.string(),
    AcceptLanguage: p.string(),
    InstanceChargeType: p.string(),
    ResourceType: p.string(),
  },
  async handler(ctx, params) {
    const regions = ctx.config.regions.filter((r) => !params.RegionId || r.regionId === params.RegionId);
    return {
      Regions: {
        Region: regions.map((r) => ({
          RegionId: r.regionId,
          LocalName: r.localName,
          RegionEndpoint: 'ecs.' + r.regionId + '.local',
          Status: 'available',
        })),
      },
    };
  },
});
