// The VPC (2016-04-28) actions OpenECI implements. Keep alphabetical.
import type { AnyAction } from '../../action.ts';
import { CreateVpc } from './CreateVpc.ts';
import { DeleteVpc } from './DeleteVpc.ts';
import { DescribeVpcs } from './DescribeVpcs.ts';

export const vpcActions: readonly AnyAction[] = [CreateVpc, DeleteVpc, DescribeVpcs];
