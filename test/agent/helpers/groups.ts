// Reading one container group back through the official ECI SDK, as every end-to-end test does.

import { $Eci, type EciClient } from '../../helpers/sdk.ts';

export const REGION = 'cn-hangzhou';

/** The group as DescribeContainerGroups shows it (with its events), or undefined once it is gone. */
export async function describeGroup(eci: EciClient, id: string) {
  const r = await eci.describeContainerGroups(new $Eci.DescribeContainerGroupsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]), withEvent: true }));
  return r.body!.containerGroups?.[0];
}

/** The group's events (DescribeContainerGroupEvents). */
export async function groupEvents(eci: EciClient, id: string) {
  const r = await eci.describeContainerGroupEvents(new $Eci.DescribeContainerGroupEventsRequest({ regionId: REGION, containerGroupIds: JSON.stringify([id]) }));
  return r.body!.data?.[0]?.events ?? [];
}
