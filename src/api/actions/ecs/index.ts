// The ECS (2014-05-26) actions OpenECI implements: security groups. Keep alphabetical.
import type { AnyAction } from '../../action.ts';
import { AuthorizeSecurityGroup } from './AuthorizeSecurityGroup.ts';
import { AuthorizeSecurityGroupEgress } from './AuthorizeSecurityGroupEgress.ts';
import { CreateSecurityGroup } from './CreateSecurityGroup.ts';
import { DeleteSecurityGroup } from './DeleteSecurityGroup.ts';
import { DescribeRegions } from './DescribeRegions.ts';
import { DescribeSecurityGroupAttribute } from './DescribeSecurityGroupAttribute.ts';
import { DescribeSecurityGroups } from './DescribeSecurityGroups.ts';
import { ModifySecurityGroupRule } from './ModifySecurityGroupRule.ts';
import { RevokeSecurityGroup } from './RevokeSecurityGroup.ts';
import { RevokeSecurityGroupEgress } from './RevokeSecurityGroupEgress.ts';

export const ecsActions: readonly AnyAction[] = [
  AuthorizeSecurityGroup,
  AuthorizeSecurityGroupEgress,
  CreateSecurityGroup,
  DeleteSecurityGroup,
  DescribeRegions,
  DescribeSecurityGroupAttribute,
  DescribeSecurityGroups,
  ModifySecurityGroupRule,
  RevokeSecurityGroup,
  RevokeSecurityGroupEgress,
];
