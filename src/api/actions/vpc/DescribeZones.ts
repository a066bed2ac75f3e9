import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';

export const DescribeZones = defineAction({
  product: 'vpc',
  name: 'DescribeZones',
  summary: 'Lists the zones of a region (every OpenECI zone is an availability zone).',
  mutating: false,
  params: { RegionId: p.string({ required: true }), ZoneType: p.string(), AcceptLanguage: p.string() },
  async handler(ctx, params) {
    const region = ctx.config.regions.find((r) => r.regionId === params.RegionId);
    const zones = params.ZoneType && params.ZoneType !== 'AvailabilityZone' ? [] : (region?.zones ?? []);
    return {
      Zones: {
        Zone: zones.map((zoneId) => ({
          ZoneId: zoneId,
          // `cn-hangzhou-h` in region `cn-hangzhou` is "<region name> H".
          LocalName: `${region!.localName} ${zoneId.startsWith(region!.regionId + '-') ? zoneId.slice(region!.regionId.length + 1).toUpperCase() : zoneId}`,
          ZoneType: 'AvailabilityZone',
        })),
      },
    };
  },
});
