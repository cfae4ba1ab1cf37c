// The configuration of an Intel PMU model (counter counts and widths, perfmon version, LBR
// format, PMI skid), derived from a CPU preset, and the register state it saves and restores.
import type { IntelPmuSpec } from './cpu-presets';
import type { PmuStateBase } from './pmu.types';

export interface IntelPmuConfig {
  /** 'amd': an AMD core PMU on this engine (guest MSRs through amd-msr.codec.ts). */
  vendor?: 'intel' | 'amd';
  gpCounters: number;
  gpWidthBits: number;
  fixedCounters: number;
  fixedWidthBits: number;
  perfmonVersion: number;
  fullWidthWrites: boolean;
  lbrFormat: number;
  pmiSkidNs: number;
}

export function intelConfigFromPreset(p: IntelPmuSpec, overrides: Partial<IntelPmuConfig> = {}): IntelPmuConfig {
  return {
    ...(p.vendor === 'amd' && { vendor: 'amd' as const }),
    gpCounters: p.gpCounters,
    gpWidthBits: p.gpWidthBits,
    fixedCounters: p.fixedCounters,
    fixedWidthBits: p.fixedWidthBits,
    perfmonVersion: p.perfmonVersion,
    fullWidthWrites: p.fullWidthWrites,
    lbrFormat: p.lbrFormat,
    pmiSkidNs: p.pmiSkidNs,
    ...overrides,
  };
}

export interface IntelPmuState extends PmuStateBase {
  arch: 'intel';
  nowNs: number;
  eventSel: number[];
  fixedCtrl: number;
  globalCtrlGp: number;
  globalCtrlFixed: number;
  statusGp: number;
  statusFixed: number;
  /** Bits 58, 59, 62, 63 of GLOBAL_STATUS, as a 4-bit mask in that order. */
  statusMisc: number;
  debugCtl: number;
}
