// Collects, from the event stream, what report.html draws beyond summary.json: vCPU run slices
// (timeline), PMI marks, counter series and migration phases. Memory stays bounded however long
// the run is, by downsampling (documented in docs/viewing.md):
//   - run slices: at most `maxSlicesPerVcpu` per vCPU. When full, neighbouring slices on the same
//     pCPU whose gap is below a quantum are merged (the quantum doubles until the list halves);
//     a merged slice counts its parts. At report scale (~1000 px) a merged gap is sub-pixel.
//   - PMI marks and counter points: at most `maxMarksPerVcpu` / `maxPointsPerSeries`; when full,
//     every other one is dropped and from then on only every 2^k-th is kept (uniform thinning).
//     The last counter point is always kept, so final values are exact. Totals are exact.
// Run slices, PMIs, counter samples and migrations come from the viewers' shared fold
// (run-timeline.fold.ts).
// The summary stays the source of truth for numbers; this is only for pictures.
import type { SimEvent } from '@vpmu/sim';
import type { RunSummary } from '@vpmu/summary';
import { layMigrationPhases, RunTimelineFold, type CounterPoint, type Migration, type PmiMark, type VcpuRunSlice } from './run-timeline.fold';

export interface ReportSlice {
  host: string;
  pcpu: number;
  startNs: number;
  endNs: number;
  /** How many real run slices this one stands for (1 unless downsampled). */
  parts: number;
}

export interface ReportMark {
  atNs: number;
  label: string;
  lost: boolean;
}

export interface ReportVcpuTrack {
  vm: string;
  vcpu: number;
  slices: ReportSlice[];
  sliceTotal: number;
  pmis: ReportMark[];
  pmiTotal: number;
  pmiLostTotal: number;
}

export interface ReportCounterSeries {
  /** "vm" series are a vCPU's (or VM's) guest view; "host" series a pCPU's. */
  owner: 'vm' | 'host';
  ownerId: string;
  /** vCPU or pCPU index, or -1 for a whole VM / host. */
  cpu: number;
  event: string;
  /** [atNs, actual, observed] */
  points: [number, number, number][];
  sampleTotal: number;
}

export interface ReportMigration {
  vm: string;
  from: string;
  to: string;
  result: 'completed' | 'refused' | 'incomplete';
  phases: { phase: string; iteration: number; startNs: number; endNs: number; bytes: number }[];
}

export interface ReportData {
  endNs: number;
  hosts: { id: string; pcpus: number[] }[];
  vcpus: ReportVcpuTrack[];
  counters: ReportCounterSeries[];
  migrations: ReportMigration[];
  limits: { maxSlicesPerVcpu: number; maxMarksPerVcpu: number; maxPointsPerSeries: number };
}

export interface ReportCollectorOptions {
  maxSlicesPerVcpu?: number;
  maxMarksPerVcpu?: number;
  maxPointsPerSeries?: number;
}

interface VcpuAcc {
  track: ReportVcpuTrack;
  quantumNs: number;
  pmiStride: number;
  pmiSeen: number;
}

interface SeriesAcc {
  series: ReportCounterSeries;
  stride: number;
  last: [number, number, number] | null;
  lastKept: boolean;
}

export class ReportCollector {
  private readonly maxSlices: number;
  private readonly maxMarks: number;
  private readonly maxPoints: number;
  private readonly hosts = new Map<string, Set<number>>();
  private readonly vcpus = new Map<string, VcpuAcc>();
  private readonly series = new Map<string, SeriesAcc>();
  private readonly migrations: ReportMigration[] = [];
  private readonly timeline = new RunTimelineFold({
    sliceEnd: (s) => this.addSlice(s),
    pmi: (m) => this.addPmi(m),
    counterSample: (p) => this.addPoint(p),
    migration: (m) => this.addMigration(m),
  });

  constructor(options: ReportCollectorOptions = {}) {
    this.maxSlices = Math.max(8, options.maxSlicesPerVcpu ?? 3000);
    this.maxMarks = Math.max(8, options.maxMarksPerVcpu ?? 2000);
    this.maxPoints = Math.max(8, options.maxPointsPerSeries ?? 400);
  }

  onEvents(events: readonly SimEvent[]): void {
    for (const e of events) {
      if (e.at.host !== undefined && e.at.pcpu !== undefined) this.pcpuSet(e.at.host).add(e.at.pcpu);
      else if (e.at.host !== undefined) this.pcpuSet(e.at.host);
      this.timeline.onEvent(e);
    }
  }

  /** Closes what is open at the end of the run and returns the collected data. */
  finish(summary: RunSummary): ReportData {
    const endNs = this.timeline.runEndNs(summary.run.durationNs);
    this.timeline.endRunSlices(endNs);
    this.timeline.endMigrations();
    for (const id of Object.keys(summary.hosts)) {
      const set = this.pcpuSet(id);
      for (let i = 0; i < summary.hosts[id].pcpus; i++) set.add(i);
    }
    const counters = [...this.series.values()].map((acc) => {
      const pts = acc.series.points;
      if (acc.last && !acc.lastKept && pts[pts.length - 1] !== acc.last) pts.push(acc.last);
      return acc.series;
    });
    counters.sort((a, b) => cmp(a.owner, b.owner) || cmp(a.ownerId, b.ownerId) || cmp(a.event, b.event) || a.cpu - b.cpu);
    const vcpus = [...this.vcpus.values()].map((a) => a.track);
    vcpus.sort((a, b) => cmp(a.vm, b.vm) || a.vcpu - b.vcpu);
    return {
      endNs,
      hosts: [...this.hosts.entries()].sort(([a], [b]) => cmp(a, b)).map(([id, set]) => ({ id, pcpus: [...set].sort((x, y) => x - y) })),
      vcpus,
      counters,
      migrations: [...this.migrations],
      limits: { maxSlicesPerVcpu: this.maxSlices, maxMarksPerVcpu: this.maxMarks, maxPointsPerSeries: this.maxPoints },
    };
  }

  private pcpuSet(host: string): Set<number> {
    let s = this.hosts.get(host);
    if (!s) {
      s = new Set();
      this.hosts.set(host, s);
    }
    return s;
  }

  private vcpu(vm: string, vcpu: number): VcpuAcc {
    const key = `${vm}\u0000${vcpu}`;
    let acc = this.vcpus.get(key);
    if (!acc) {
      acc = {
        track: { vm, vcpu, slices: [], sliceTotal: 0, pmis: [], pmiTotal: 0, pmiLostTotal: 0 },
        quantumNs: 0,
        pmiStride: 1,
        pmiSeen: 0,
      };
      this.vcpus.set(key, acc);
    }
    return acc;
  }

  private addSlice(run: VcpuRunSlice): void {
    const acc = this.vcpu(run.vm, run.vcpu);
    acc.track.sliceTotal++;
    const slices = acc.track.slices;
    const s: ReportSlice = { host: run.host, pcpu: run.pcpu, startNs: run.startNs, endNs: run.endNs, parts: 1 };
    const last = slices[slices.length - 1];
    // Already downsampling: fold into the previous slice when it would have been merged anyway.
    if (last && acc.quantumNs > 0 && last.host === s.host && last.pcpu === s.pcpu && s.startNs - last.endNs < acc.quantumNs) {
      last.endNs = s.endNs;
      last.parts++;
      return;
    }
    slices.push(s);
    if (slices.length > this.maxSlices) this.compact(acc);
  }

  private addPmi(m: PmiMark): void {
    if (!m.vcpu) return;
    const e = m.event;
    const acc = this.vcpu(m.vcpu.vm, m.vcpu.vcpu);
    acc.track.pmiTotal++;
    if (e.lost) acc.track.pmiLostTotal++;
    // Lost PMIs are rare and are what a reader looks for: never thinned.
    if (!e.lost && acc.pmiSeen++ % acc.pmiStride !== 0) return;
    acc.track.pmis.push({ atNs: e.atNs, label: `${e.counter}${e.lost ? ' (lost)' : ''}`, lost: e.lost });
    if (acc.track.pmis.length > this.maxMarks) {
      acc.track.pmis = acc.track.pmis.filter((mark, i) => mark.lost || i % 2 === 0);
      acc.pmiStride *= 2;
    }
  }

  private addPoint(point: CounterPoint): void {
    const { owner, ownerId, cpu, event } = point;
    const key = `${owner}\u0000${ownerId}\u0000${cpu}\u0000${event}`;
    let acc = this.series.get(key);
    if (!acc) {
      acc = { series: { owner, ownerId, cpu, event, points: [], sampleTotal: 0 }, stride: 1, last: null, lastKept: false };
      this.series.set(key, acc);
    }
    const p: [number, number, number] = [point.atNs, point.actual, point.observed];
    const keep = acc.series.sampleTotal % acc.stride === 0;
    acc.series.sampleTotal++;
    acc.last = p;
    acc.lastKept = keep;
    if (!keep) return;
    acc.series.points.push(p);
    if (acc.series.points.length > this.maxPoints) {
      acc.series.points = acc.series.points.filter((_, i) => i % 2 === 0);
      acc.stride *= 2;
      acc.lastKept = acc.series.points[acc.series.points.length - 1] === p;
    }
  }

  private compact(acc: VcpuAcc): void {
    let slices = acc.track.slices;
    const spanNs = Math.max(1, slices[slices.length - 1].endNs - slices[0].startNs);
    if (acc.quantumNs === 0) acc.quantumNs = Math.max(1, Math.floor(spanNs / this.maxSlices));
    while (slices.length > this.maxSlices / 2) {
      const merged: ReportSlice[] = [];
      for (const s of slices) {
        const prev = merged[merged.length - 1];
        if (prev && s.startNs - prev.endNs < acc.quantumNs && (prev.host === s.host && prev.pcpu === s.pcpu)) {
          prev.endNs = Math.max(prev.endNs, s.endNs);
          prev.parts += s.parts;
        } else if (prev && s.startNs - prev.endNs < acc.quantumNs && acc.quantumNs > spanNs / 64) {
          // Alternating pCPUs at this scale: keep the pCPU that held the longer share.
          const prevLen = prev.endNs - prev.startNs;
          const sLen = s.endNs - s.startNs;
          if (sLen > prevLen) {
            prev.host = s.host;
            prev.pcpu = s.pcpu;
          }
          prev.endNs = Math.max(prev.endNs, s.endNs);
          prev.parts += s.parts;
        } else {
          merged.push({ ...s });
        }
      }
      slices = merged;
      if (slices.length > this.maxSlices / 2) acc.quantumNs *= 2;
    }
    acc.track.slices = slices;
  }

  private addMigration(m: Migration): void {
    const phases = layMigrationPhases(m.phases).map(({ event: p, startNs, endNs }) => ({ phase: p.phase, iteration: p.iteration, startNs, endNs, bytes: p.bytes }));
    this.migrations.push({ vm: m.vm, from: m.fromHost, to: m.toHost, result: m.result, phases });
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
