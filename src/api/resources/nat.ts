// NAT gateway rules shared by the gateway, SNAT and DNAT actions (and by the EIP actions, which must
// know whether a NAT's EIP is still used by an entry). The pure port/clash logic is in src/core/nat.ts;
// this file reads the store and turns verdicts into the reference's error codes.
//
// Status: a NAT gateway here is a set of rules in its VPC's router namespace, not an appliance that
// takes minutes to provision, so gateways and entries are recorded `Available` when created (as
// CreateVpc records its VPC), and deletes remove the rows in the same transaction. The agent programs
// the data plane from the store, level-based.

import { contains, formatIp, parseCidr, parseIp } from '../../core/cidr.ts';
import { invalid, notFound } from '../../core/errors.ts';
import { KIND, PUBLIC_IP_SCOPE, type EipData, type ForwardEntryData, type NatGatewayData, type SnatEntryData, type VpcData } from '../../core/model.ts';
import {
  checkForwardPorts,
  findDnatClash,
  formatNatPort,
  parseNatPort,
  parseNatProtocol,
  type DnatRule,
} from '../../core/nat.ts';
import type { Resource, Tx } from '../../store/store.ts';
import { requireOwned } from './common.ts';

/** Names of gateways and entries: 2–128 characters, starting with a letter, not a URL. */
export const NAT_NAME = /^(?!https?:\/\/)\p{L}[^\x00-\x1f]{1,127}$/u;
export const NAT_NAME_CODE = 'InvalidParameter.Name.Malformed';

/** EIP states in which an EIP counts as bound to its NAT gateway. */
const BOUND = new Set(['InUse', 'Associating']);

export const requireNatGateway = (tx: Tx, account: string, id: string): Promise<Resource<NatGatewayData>> =>
  requireOwned<NatGatewayData>(tx, KIND.natGateway, account, id, 'InvalidNatGatewayId.NotFound', 'NatGatewayId');

/** The gateway owning a SNAT or DNAT table. A region holds few gateways (a quota), so a scan is cheap. */
async function gatewayOfTable(tx: Tx, account: string, region: string, tableId: string, field: 'SnatTableId' | 'ForwardTableId'): Promise<Resource<NatGatewayData> | undefined> {
  if (!tableId) return undefined;
  const gateways = await tx.list<NatGatewayData>({ kind: KIND.natGateway, account, region });
  return gateways.find((g) => g.data[field] === tableId);
}

export async function requireSnatTable(tx: Tx, account: string, region: string, tableId: string): Promise<Resource<NatGatewayData>> {
  const g = await gatewayOfTable(tx, account, region, tableId, 'SnatTableId');
  if (!g) throw notFound('InvalidSnatTableId.NotFound', `The specified SNAT table "${tableId}" does not exist.`);
  return g;
}

export async function requireForwardTable(tx: Tx, account: string, region: string, tableId: string): Promise<Resource<NatGatewayData>> {
  const g = await gatewayOfTable(tx, account, region, tableId, 'ForwardTableId');
  if (!g) throw notFound('InvalidForwardTableId.NotFound', `The specified forward table "${tableId}" does not exist.`);
  return g;
}

export async function requireSnatEntry(tx: Tx, nat: Resource<NatGatewayData>, id: string): Promise<Resource<SnatEntryData>> {
  const e = id ? await tx.get<SnatEntryData>(KIND.snatEntry, id) : undefined;
  if (!e || e.account !== nat.account || e.parent !== nat.id)
    throw notFound('InvalidSnatEntryId.NotFound', `The specified SNAT entry "${id}" does not exist in table ${nat.data.SnatTableId}.`);
  return e;
}

export async function requireForwardEntry(tx: Tx, nat: Resource<NatGatewayData>, id: string): Promise<Resource<ForwardEntryData>> {
  const e = id ? await tx.get<ForwardEntryData>(KIND.forwardEntry, id) : undefined;
  if (!e || e.account !== nat.account || e.parent !== nat.id)
    throw notFound('InvalidForwardEntryId.NotFound', `The specified forward entry "${id}" does not exist in table ${nat.data.ForwardTableId}.`);
  return e;
}

/** The EIPs bound (or being bound) to the gateway. An account holds few EIPs (a quota). */
export async function natEips(tx: Tx, nat: Resource<NatGatewayData>): Promise<Resource<EipData>[]> {
  const eips = await tx.list<EipData>({ kind: KIND.eip, account: nat.account });
  return eips.filter((e) => BOUND.has(e.status) && e.data.InstanceType === 'Nat' && e.data.InstanceId === nat.id);
}

export const snatEntriesOf = (tx: Tx, nat: Resource<NatGatewayData>): Promise<Resource<SnatEntryData>[]> =>
  tx.list<SnatEntryData>({ kind: KIND.snatEntry, parent: nat.id });

export const forwardEntriesOf = (tx: Tx, nat: Resource<NatGatewayData>): Promise<Resource<ForwardEntryData>[]> =>
  tx.list<ForwardEntryData>({ kind: KIND.forwardEntry, parent: nat.id });

export const snatIpsOf = (e: SnatEntryData): string[] => (e.SnatIp ? e.SnatIp.split(',') : []);

/**
 * The SNAT and DNAT entries of a gateway that use an address; an EIP still used by an entry may not
 * be unbound from its gateway without Force (UnassociateEipAddress).
 */
export async function entriesUsingAddress(
  tx: Tx,
  nat: Resource<NatGatewayData>,
  ip: string,
): Promise<{ snat: Resource<SnatEntryData>[]; dnat: Resource<ForwardEntryData>[] }> {
  const snat = (await snatEntriesOf(tx, nat)).filter((e) => snatIpsOf(e.data).includes(ip));
  const dnat = (await forwardEntriesOf(tx, nat)).filter((e) => e.data.ExternalIp === ip);
  return { snat, dnat };
}

export interface EipCodes {
  readonly field: string;
  readonly malformed: string;
  readonly notFound: string;
}

export const SNAT_IP: EipCodes = { field: 'SnatIp', malformed: 'InvalidSnatIp.Malformed', notFound: 'InvalidSnatIp.NotFound' };
export const EXTERNAL_IP: EipCodes = { field: 'ExternalIp', malformed: 'InvalidExternalIp.Malformed', notFound: 'InvalidExternalIp.NotFound' };

/**
 * An address given as a SNAT or DNAT public IP: it must be one of the account's EIPs (else NotFound)
 * and bound to this gateway (else InvalidIp.NotInNatgw).
 */
export async function requireNatEip(tx: Tx, nat: Resource<NatGatewayData>, text: string, codes: EipCodes): Promise<Resource<EipData>> {
  const ip = parseIp(text);
  if (ip === undefined) throw invalid(codes.malformed, `The specified ${codes.field} "${text}" is not a valid IPv4 address.`);
  const owner = await tx.ipOwner(PUBLIC_IP_SCOPE, ip);
  const eip = owner ? await tx.get<EipData>(KIND.eip, owner) : undefined;
  if (!eip || eip.account !== nat.account)
    throw notFound(codes.notFound, `The specified ${codes.field} "${text}" is not an elastic IP address of this account.`);
  if (!BOUND.has(eip.status) || eip.data.InstanceType !== 'Nat' || eip.data.InstanceId !== nat.id)
    throw invalid('InvalidIp.NotInNatgw', `The ${codes.field} ${text} (${eip.id}) is not bound to the NAT gateway ${nat.id}; associate it first.`);
  return eip;
}

/** The DNAT rule of a stored entry, for the clash checks. */
export function dnatRuleOf(e: Resource<ForwardEntryData>): DnatRule {
  return {
    id: e.id,
    externalIp: e.data.ExternalIp,
    externalPort: parseNatPort(e.data.ExternalPort)!,
    internalIp: e.data.InternalIp,
    internalPort: parseNatPort(e.data.InternalPort)!,
    protocol: parseNatProtocol(e.data.IpProtocol)!,
  };
}

/** True when an IP-mapping (any-port) DNAT entry of the gateway uses the address. */
export async function ipMappedBy(tx: Tx, nat: Resource<NatGatewayData>, ip: string, exceptId = ''): Promise<Resource<ForwardEntryData> | undefined> {
  return (await forwardEntriesOf(tx, nat)).find((e) => e.id !== exceptId && e.data.ExternalIp === ip && e.data.IpProtocol === 'any');
}

/**
 * Parses a SnatIp list and checks every address: well-formed, given once, an EIP bound to the gateway,
 * not IP-mapped by a DNAT entry. Returns the addresses in the order given.
 */
export async function checkSnatIps(tx: Tx, nat: Resource<NatGatewayData>, text: string): Promise<string[]> {
  const ips = text.split(',').map((s) => s.trim());
  if (ips.length === 0 || ips.some((s) => s === ''))
    throw invalid('InvalidSnatIp.Malformed', `The specified SnatIp "${text}" is malformed: give a comma-separated list of EIP addresses.`);
  const seen = new Set<string>();
  for (const ip of ips) {
    if (seen.has(ip)) throw invalid('InvalidSnatIp.Malformed', `The specified SnatIp "${text}" lists ${ip} twice.`);
    seen.add(ip);
    await requireNatEip(tx, nat, ip, SNAT_IP);
    const mapped = await ipMappedBy(tx, nat, ip);
    if (mapped)
      throw invalid('Forbidden.IpUsedInForwardTable', `The SnatIp ${ip} is IP-mapped by the forward entry ${mapped.id}; an IP-mapped address serves no other entry.`);
  }
  return ips;
}

export interface ForwardInput {
  readonly ExternalIp: string;
  readonly ExternalPort: string;
  readonly InternalIp: string;
  readonly InternalPort: string;
  readonly IpProtocol: string;
}

/**
 * Validates a DNAT entry (new, or an existing one with changes when `selfId` is given) against the
 * gateway's VPC, its EIPs, its SNAT entries and the other DNAT entries. Returns the normalised fields.
 */
export async function checkForwardEntry(
  tx: Tx,
  nat: Resource<NatGatewayData>,
  vpc: Resource<VpcData>,
  input: ForwardInput,
  selfId = '',
): Promise<Pick<ForwardEntryData, 'ExternalIp' | 'ExternalPort' | 'InternalIp' | 'InternalPort' | 'IpProtocol'>> {
  const protocol = parseNatProtocol(input.IpProtocol);
  if (!protocol)
    throw invalid('InvalidProtocal.ValueNotSupported', `The specified IpProtocol "${input.IpProtocol}" is not supported: use TCP, UDP or Any.`);
  const external = parseNatPort(input.ExternalPort);
  if (!external)
    throw invalid('InvalidExternalPort.Malformed', `The specified ExternalPort "${input.ExternalPort}" is malformed: use a port 1-65535, a range such as 1000/1010, or Any.`);
  const internal = parseNatPort(input.InternalPort);
  if (!internal)
    throw invalid('InvalidInternalPort.Malformed', `The specified InternalPort "${input.InternalPort}" is malformed: use a port 1-65535, a range such as 1000/1010, or Any.`);
  const problem = checkForwardPorts(protocol, external, internal);
  if (problem)
    throw invalid(`Invalid${problem.field}.Malformed`, `The specified ${problem.field} "${problem.field === 'ExternalPort' ? input.ExternalPort : input.InternalPort}" is not valid: ${problem.reason}.`);

  const internalIp = parseIp(input.InternalIp);
  if (internalIp === undefined) throw invalid('InvalidInternalIp.Malformed', `The specified InternalIp "${input.InternalIp}" is not a valid IPv4 address.`);
  if (!contains(parseCidr(vpc.data.CidrBlock)!, internalIp))
    throw invalid('Forbidden.InternalIpOutOfVpcCIDR', `The InternalIp ${input.InternalIp} is outside the CIDR ${vpc.data.CidrBlock} of the VPC ${vpc.id}.`);

  await requireNatEip(tx, nat, input.ExternalIp, EXTERNAL_IP);
  if (protocol === 'any') {
    const snat = (await snatEntriesOf(tx, nat)).find((e) => snatIpsOf(e.data).includes(input.ExternalIp));
    if (snat)
      throw invalid('Forbidden.ExternalIp.UsedInSnatTable', `The ExternalIp ${input.ExternalIp} is used by the SNAT entry ${snat.id}; IP mapping needs an address no other entry uses.`);
  }

  const candidate: DnatRule = {
    id: selfId,
    externalIp: input.ExternalIp,
    externalPort: external,
    internalIp: formatIp(internalIp),
    internalPort: internal,
    protocol,
  };
  const clash = findDnatClash((await forwardEntriesOf(tx, nat)).map(dnatRuleOf), candidate);
  if (clash?.kind === 'ipMapped')
    throw invalid('Forbidden.IpUsedInForwardTable', `The ExternalIp ${input.ExternalIp} is used by the forward entry ${clash.with}, and an IP-mapped address serves no other entry.`);
  if (clash?.kind === 'external')
    throw invalid('Forbidden.ExternalPort.Duplicated', `The forward entry ${clash.with} already forwards ${protocol} ${input.ExternalIp}:${formatNatPort(external)} (overlapping ports).`);
  if (clash?.kind === 'internal')
    throw invalid('OperationUnsupported.ForwardEntry', `Duplicated destination ip port is unsupported: the forward entry ${clash.with} already targets ${protocol} ${candidate.internalIp}:${formatNatPort(internal)}.`);

  return {
    ExternalIp: input.ExternalIp,
    ExternalPort: formatNatPort(external),
    InternalIp: candidate.internalIp,
    InternalPort: formatNatPort(internal),
    IpProtocol: protocol,
  };
}
