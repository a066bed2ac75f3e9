// The ECI (2018-08-08) actions OpenECI implements. Keep alphabetical.
import type { AnyAction } from '../../action.ts';
import { DescribeRegions } from './DescribeRegions.ts';

export const eciActions: readonly AnyAction[] = [DescribeRegions];
