// The ECS (2014-05-26) actions OpenECI implements: security groups. Keep alphabetical.
import type { AnyAction } from '../../action.ts';

export const ecsActions: readonly AnyAction[] = [];
