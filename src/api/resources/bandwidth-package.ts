// Common (shared) bandwidth packages: a bandwidth limit shared by the EIPs added to it. Membership is
// recorded on the EIP (data.BandwidthPackageId, and the package's bandwidth as a string in
// data.BandwidthPackageBandwidth, as DescribeEipAddresses shows it); the agent shapes a package as a
// parent class over its EIPs' classes.

import { ApiError, invalid, notFound } from '../../core/errors.ts';
import { KIND, type BandwidthPackageData, type EipData } from '../../core/model.ts';
import type { Resource, Tx } from '../../store/store.ts';
import { requireOwned } from './common.ts';

/** What OpenECI keeps of a package beyond BandwidthPackageData: values it stores and echoes. */
export type BandwidthPackageRecord = BandwidthPackageData & { ResourceGroupId?: string; Zone?: string };

/** Package bandwidth in Mbit/s, pay-as-you-go (the reference's range). */
export const CBWP_BANDWIDTH_MIN = 1;
export const CBWP_BANDWIDTH_MAX = 1000;

/** The account's package in this region (a package of another region is as absent as another account's). */
export async function requireBandwidthPackage(tx: Tx, account: string, region: string, id: string): Promise<Resource<BandwidthPackageRecord>> {
  const pkg = await requireOwned<BandwidthPackageRecord>(tx, KIND.bandwidthPackage, account, id, 'InvalidBandwidthPackageId.NotFound', 'BandwidthPackageId');
  if (pkg.region !== region) throw notFound('InvalidBandwidthPackageId.NotFound', `The specified BandwidthPackageId "${id}" does not exist.`);
  return pkg;
}

/** The account's EIP in this region, as the package actions name it (IpInstanceId). */
export async function requirePackageEip(tx: Tx, account: string, region: string, id: string): Promise<Resource<EipData>> {
  const eip = await requireOwned<EipData>(tx, KIND.eip, account, id, 'InvalidIpInstanceId.NotFound', 'IpInstanceId');
  if (eip.region !== region) throw notFound('InvalidIpInstanceId.NotFound', `The specified IpInstanceId "${id}" does not exist.`);
  return eip;
}

/** The EIPs in a package. */
export async function packageMembers(tx: Tx, pkg: Resource<BandwidthPackageData>): Promise<Resource<EipData>[]> {
  const eips = await tx.list<EipData>({ kind: KIND.eip, account: pkg.account, region: pkg.region });
  return eips.filter((e) => e.data.BandwidthPackageId === pkg.id);
}

/** Checks a bandwidth given as text (the SDKs send ModifyCommonBandwidthPackageSpec's as a string). */
export function checkPackageBandwidth(value: string | number): number {
  const text = String(value).trim();
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= CBWP_BANDWIDTH_MIN && n <= CBWP_BANDWIDTH_MAX))
    throw invalid('InvalidParameter', `Specified value of "Bandwidth" is not valid. Use a whole number of Mbit/s from ${CBWP_BANDWIDTH_MIN} to ${CBWP_BANDWIDTH_MAX}.`);
  return n;
}

/** Puts an EIP into a package: the reference's rules, then the membership on the EIP row. */
export async function addToPackage(tx: Tx, pkg: Resource<BandwidthPackageRecord>, eip: Resource<EipData>): Promise<void> {
  if (eip.data.BandwidthPackageId)
    throw invalid('IpInstanceId.AlreadyInBandwidthPackage', `The specified EIP ${eip.id} is already in bandwidth package ${eip.data.BandwidthPackageId}.`);
  if (eip.data.InstanceChargeType !== 'PostPaid')
    throw invalid('IpInstanceId.ChargeType.NotSupport', `The specified EIP ${eip.id} is PrePaid; only pay-as-you-go EIPs join a bandwidth package.`);
  if (eip.data.ISP !== pkg.data.ISP)
    throw invalid('Mismatch.EipIspAndBandwidthPackageIsp', `The EIP ${eip.id} has ISP ${eip.data.ISP}; the bandwidth package ${pkg.id} has ISP ${pkg.data.ISP}.`);
  if (eip.status === 'Releasing') throw new ApiError('Conflict', 'IncorrectStatus.Eip', `The EIP ${eip.id} is being released.`);
  eip.data = { ...eip.data, BandwidthPackageId: pkg.id, BandwidthPackageBandwidth: String(pkg.data.Bandwidth) };
  await tx.update(eip);
}

/** Takes an EIP out of its package; its own bandwidth applies again. */
export async function removeFromPackage(tx: Tx, eip: Resource<EipData>): Promise<void> {
  eip.data = { ...eip.data, BandwidthPackageId: '', BandwidthPackageBandwidth: '' };
  await tx.update(eip);
}
