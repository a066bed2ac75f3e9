// The ECI (2018-08-08) actions OpenECI implements. Keep alphabetical.
import type { AnyAction } from '../../action.ts';
import { CreateContainerGroup } from './CreateContainerGroup.ts';
import { CreateImageCache } from './CreateImageCache.ts';
import { DeleteContainerGroup } from './DeleteContainerGroup.ts';
import { DeleteImageCache } from './DeleteImageCache.ts';
import { DescribeContainerGroupEvents } from './DescribeContainerGroupEvents.ts';
import { DescribeContainerGroupMetric } from './DescribeContainerGroupMetric.ts';
import { DescribeContainerGroups } from './DescribeContainerGroups.ts';
import { DescribeContainerGroupStatus } from './DescribeContainerGroupStatus.ts';
import { DescribeContainerLog } from './DescribeContainerLog.ts';
import { DescribeImageCaches } from './DescribeImageCaches.ts';
import { DescribeMultiContainerGroupMetric } from './DescribeMultiContainerGroupMetric.ts';
import { DescribeRegions } from './DescribeRegions.ts';
import { ExecContainerCommand } from './ExecContainerCommand.ts';
import { RestartContainerGroup } from './RestartContainerGroup.ts';
import { UpdateContainerGroup } from './UpdateContainerGroup.ts';
import { UpdateImageCache } from './UpdateImageCache.ts';

export const eciActions: readonly AnyAction[] = [
  CreateContainerGroup,
  CreateImageCache,
  DeleteContainerGroup,
  DeleteImageCache,
  DescribeContainerGroupEvents,
  DescribeContainerGroupMetric,
  DescribeContainerGroups,
  DescribeContainerGroupStatus,
  DescribeContainerLog,
  DescribeImageCaches,
  DescribeMultiContainerGroupMetric,
  DescribeRegions,
  ExecContainerCommand,
  RestartContainerGroup,
  UpdateContainerGroup,
  UpdateImageCache,
];
