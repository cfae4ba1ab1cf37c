// Nominal core frequency per CPU preset, used to convert cycle-denominated costs to ns.
// Base frequencies of representative parts: Xeon Platinum 8480+ (Sapphire Rapids) 2.0 GHz,
// 8380 (Ice Lake-SP) 2.3 GHz, 8180 (Skylake-SP) 2.5 GHz; Cortex-A76/A55 SoCs ~2.4 GHz big.
const NOMINAL_GHZ: Record<string, number> = {
  'intel-spr': 2.0,
  'intel-icx': 2.3,
  'intel-skx': 2.5,
  'arm-a76-a55': 2.4,
};

export function cpuNominalGhz(preset: string): number {
  return NOMINAL_GHZ[preset] ?? 2.0;
}
