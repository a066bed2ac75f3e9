// The official SDK clients. They are CommonJS modules with `exports.default = Client`; under Node's
// ESM interop the class sits at `.default.default` of the namespace; unwrapped here once, typed.
import * as EciModule from '@alicloud/eci20180808';
import * as EcsModule from '@alicloud/ecs20140526';
import * as VpcModule from '@alicloud/vpc20160428';
import PopCoreModule from '@alicloud/pop-core';

type ClientOf<M extends { default: { default: unknown } }> = M['default']['default'];
const unwrap = <T>(m: { default: { default: T } }): T => m.default.default;

export const EciClient = unwrap<ClientOf<typeof EciModule>>(EciModule);
export const VpcClient = unwrap<ClientOf<typeof VpcModule>>(VpcModule);
export const EcsClient = unwrap<ClientOf<typeof EcsModule>>(EcsModule);
export type EciClient = InstanceType<typeof EciClient>;
export type VpcClient = InstanceType<typeof VpcClient>;
export type EcsClient = InstanceType<typeof EcsClient>;
export const PopCore = PopCoreModule;
export { EciModule as $Eci, EcsModule as $Ecs, VpcModule as $Vpc };
