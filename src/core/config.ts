// Server configuration: parsed once in src/cmd (defaults → file → ECI_* env → flags), validated,
// frozen and passed down. Nothing under src/ except src/cmd and src/cli reads the environment.

export interface RegionConfig {
  readonly regionId: string;
  readonly localName: string;
  readonly zones: readonly string[];
}

export interface EipPoolSeed {
  readonly cidr: string;
  readonly isp: string;
}

/** Per-account limits; every create checks its own and answers `QuotaExceeded.*`. */
export interface Quotas {
  readonly vpcs: number;
  readonly vSwitchesPerVpc: number;
  readonly eips: number;
  readonly containerGroups: number;
  readonly securityGroups: number;
  readonly rulesPerSecurityGroup: number;
  readonly natGateways: number;
  readonly snatEntriesPerTable: number;
  readonly forwardEntriesPerTable: number;
  readonly bandwidthPackages: number;
  readonly ipPools: number;
  /** Image caches per account and region (CreateImageCache). */
  readonly imageCaches: number;
}

export interface ServerConfig {
  readonly regions: readonly RegionConfig[];
  readonly eipPools: readonly EipPoolSeed[];
  readonly quotas: Quotas;
  /** Allowed clock skew of signed requests, and how long a nonce is remembered. */
  readonly signatureWindowMs: number;
  readonly debug: boolean;
}

export const DEFAULT_QUOTAS: Quotas = Object.freeze({
  vpcs: 10,
  vSwitchesPerVpc: 150,
  eips: 20,
  containerGroups: 1000,
  securityGroups: 100,
  rulesPerSecurityGroup: 200,
  natGateways: 10,
  snatEntriesPerTable: 40,
  forwardEntriesPerTable: 100,
  bandwidthPackages: 10,
  ipPools: 10,
  imageCaches: 50,
});

export const DEFAULT_CONFIG: ServerConfig = Object.freeze({
  regions: [{ regionId: 'cn-hangzhou', localName: 'OpenECI (local)', zones: ['cn-hangzhou-h', 'cn-hangzhou-i'] }],
  eipPools: [{ cidr: '203.0.113.0/24', isp: 'BGP' }],
  quotas: DEFAULT_QUOTAS,
  signatureWindowMs: 15 * 60 * 1000,
  debug: false,
});
