// The VPC (2016-04-28) actions OpenECI implements. Keep alphabetical.
import type { AnyAction } from '../../action.ts';
import { AllocateEipAddress } from './AllocateEipAddress.ts';
import { AssociateEipAddress } from './AssociateEipAddress.ts';
import { DescribeEipAddresses } from './DescribeEipAddresses.ts';
import { ModifyEipAddressAttribute } from './ModifyEipAddressAttribute.ts';
import { ReleaseEipAddress } from './ReleaseEipAddress.ts';
import { UnassociateEipAddress } from './UnassociateEipAddress.ts';
import { CreateVpc } from './CreateVpc.ts';
import { DeleteVpc } from './DeleteVpc.ts';
import { DescribeVpcs } from './DescribeVpcs.ts';
import { CreateForwardEntry } from './CreateForwardEntry.ts';
import { CreateNatGateway } from './CreateNatGateway.ts';
import { CreateSnatEntry } from './CreateSnatEntry.ts';
import { DeleteForwardEntry } from './DeleteForwardEntry.ts';
import { DeleteNatGateway } from './DeleteNatGateway.ts';
import { DeleteSnatEntry } from './DeleteSnatEntry.ts';
import { DescribeForwardTableEntries } from './DescribeForwardTableEntries.ts';
import { DescribeNatGateways } from './DescribeNatGateways.ts';
import { DescribeSnatTableEntries } from './DescribeSnatTableEntries.ts';
import { ModifyForwardEntry } from './ModifyForwardEntry.ts';
import { ModifySnatEntry } from './ModifySnatEntry.ts';
import { AddCommonBandwidthPackageIp } from './AddCommonBandwidthPackageIp.ts';
import { AddPublicIpAddressPoolCidrBlock } from './AddPublicIpAddressPoolCidrBlock.ts';
import { CreateCommonBandwidthPackage } from './CreateCommonBandwidthPackage.ts';
import { CreatePublicIpAddressPool } from './CreatePublicIpAddressPool.ts';
import { CreateVSwitch } from './CreateVSwitch.ts';
import { DeleteCommonBandwidthPackage } from './DeleteCommonBandwidthPackage.ts';
import { DeletePublicIpAddressPool } from './DeletePublicIpAddressPool.ts';
import { DeleteVSwitch } from './DeleteVSwitch.ts';
import { DescribeCommonBandwidthPackages } from './DescribeCommonBandwidthPackages.ts';
import { DescribeVSwitchAttributes } from './DescribeVSwitchAttributes.ts';
import { DescribeVSwitches } from './DescribeVSwitches.ts';
import { DescribeZones } from './DescribeZones.ts';
import { ListPublicIpAddressPoolCidrBlocks } from './ListPublicIpAddressPoolCidrBlocks.ts';
import { ListPublicIpAddressPools } from './ListPublicIpAddressPools.ts';
import { ModifyCommonBandwidthPackageSpec } from './ModifyCommonBandwidthPackageSpec.ts';
import { RemoveCommonBandwidthPackageIp } from './RemoveCommonBandwidthPackageIp.ts';

export const vpcActions: readonly AnyAction[] = [
  AllocateEipAddress, AssociateEipAddress, DescribeEipAddresses, ModifyEipAddressAttribute, ReleaseEipAddress, UnassociateEipAddress,
  CreateVpc, DeleteVpc, DescribeVpcs,
  CreateForwardEntry, CreateNatGateway, CreateSnatEntry, DeleteForwardEntry, DeleteNatGateway, DeleteSnatEntry,
  DescribeForwardTableEntries, DescribeNatGateways, DescribeSnatTableEntries, ModifyForwardEntry, ModifySnatEntry,
  CreateVSwitch, DeleteVSwitch, DescribeVSwitchAttributes, DescribeVSwitches, DescribeZones,
  AddPublicIpAddressPoolCidrBlock, CreatePublicIpAddressPool, DeletePublicIpAddressPool, ListPublicIpAddressPoolCidrBlocks, ListPublicIpAddressPools,
  AddCommonBandwidthPackageIp, CreateCommonBandwidthPackage, DeleteCommonBandwidthPackage, DescribeCommonBandwidthPackages,
  ModifyCommonBandwidthPackageSpec, RemoveCommonBandwidthPackageIp];
