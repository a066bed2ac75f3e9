import { defineAction } from '../../action.ts';
import { p } from '../../../core/params.ts';
import type { StoredEvent } from '../../../store/store.ts';
import { groupFilterParams, groupFiltersOf, latestEvents, listGroups, podIdentity, secondsBefore, sinceSecondParam } from '../../resources/container-group.ts';

/** The component that records every OpenECI event today; K8sAgent events come from the virtual node. */
const SOURCE = 'EciService';

export const DescribeContainerGroupEvents = defineAction({
  product: 'eci',
  name: 'DescribeContainerGroupEvents',
  summary: 'Lists the latest 50 events of each container group, optionally only those since SinceSecond.',
  mutating: false,
  params: {
    ...groupFilterParams,
    EventSource: p.enum(['EciService', 'K8sAgent']),
    SinceSecond: sinceSecondParam,
    Limit: p.int({ min: 1, max: 500 }),
    NextToken: p.string(),
  },
  async handler(ctx, params) {
    const page = await listGroups(
      ctx.tx,
      ctx.account,
      groupFiltersOf(params),
      params.Limit ?? 200,
      params.NextToken,
    );
    const since = params.SinceSecond !== undefined ? secondsBefore(ctx.now, params.SinceSecond) : '';
    const events = params.EventSource === 'K8sAgent' ? new Map<string, StoredEvent[]>() : await latestEvents(ctx.tx, page.items.map((r) => r.id));
    return {
      TotalCount: page.total,
      NextToken: page.nextToken,
      Data: page.items.map((r) => {
        const who = podIdentity(r.data);
        return {
          ContainerGroupId: r.id,
          ...who,
          Annotations: '',
          Events: (events.get(r.id) ?? [])
            .filter((e) => e.lastTimestamp >= since)
            .map((e) => ({
              Count: e.count,
              Type: e.type,
              Reason: e.reason,
              Message: e.message,
              FirstTimestamp: e.firstTimestamp,
              LastTimestamp: e.lastTimestamp,
              Metadata: { Name: `${r.id}.${e.seq.toString(16)}`, Namespace: who.Namespace },
              involvedObject: { Kind: 'Pod', Name: who.Name, Namespace: who.Namespace, Uid: who.uuid, ApiVersion: 'v1' },
              Source: { Component: SOURCE, Host: '' },
              ReportingComponent: SOURCE,
              ReportingInstance: '',
            })),
        };
      }),
    };
  },
});
