// What every part of the scenario reader shares while it builds one Scenario: the node reader
// and its diagnostics, the run's duration (instants are checked against it), the host and VM ids
// defined so far (one namespace: a fault target may be either), and the small reads many
// sections make (optional and required keys, ids, references, instants, pCPU lists).

import { formatDurationNs, type HostSpec, type VmSpec } from '@vpmu/world-spec';

import { didYouMean } from './did-you-mean';
import { Diagnostics, Field, MapView, NodeReader } from './yaml-node.reader';

export class ScenarioBuildContext {
  readonly diag: Diagnostics;
  /** The run's duration once read (undefined while unknown or invalid). */
  durationNs: number | undefined;
  /** Host and VM ids share one namespace (a fault target may be either). id → path of definer. */
  readonly ids = new Map<string, string>();
  readonly hosts = new Map<string, HostSpec>();
  readonly vms = new Map<string, VmSpec>();

  constructor(readonly r: NodeReader) {
    this.diag = r.diag;
  }

  opt<T>(m: MapView, key: string, read: (f: Field) => T | undefined): T | undefined {
    const f = m.get(key);
    return f ? read(f) : undefined;
  }

  optReq<T>(m: MapView, key: string, read: (f: Field) => T | undefined): T | undefined {
    const f = m.require(key);
    return f ? read(f) : undefined;
  }

  nonEmptyString(f: Field): string | undefined {
    const s = this.r.string(f);
    if (s !== undefined && s.trim() === '') {
      this.r.error(f, 'must not be empty');
      return undefined;
    }
    return s;
  }

  /** Reads `id` of a host or VM and claims it in the shared namespace. */
  defineId(m: MapView, kind: 'host' | 'vm'): string | undefined {
    const f = m.require('id', kind === 'host' ? 'e.g. `id: h1`' : 'e.g. `id: vm1`');
    if (!f) return undefined;
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const first = this.ids.get(id);
    if (first !== undefined) {
      this.r.error(f, `duplicate id "${id}" (already used by ${first}; hosts and VMs share one namespace)`);
      return undefined;
    }
    this.ids.set(id, m.path);
    return id;
  }

  /** Reads a required `id` unique within one owner (perf sessions of a host, ...). */
  localId(m: MapView, ids: Map<string, string>, what: string): string | undefined {
    const f = m.require('id');
    if (!f) return undefined;
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const first = ids.get(id);
    if (first !== undefined) {
      this.r.error(f, `duplicate ${what} "${id}" (already used by ${first})`);
      return undefined;
    }
    ids.set(id, m.path);
    return id;
  }

  hostRef(f: Field): HostSpec | undefined {
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const h = this.hosts.get(id);
    if (!h) {
      this.r.error(f, `unknown host "${id}"${this.knownList([...this.hosts.keys()], id)}`);
      return undefined;
    }
    return h;
  }

  vmRef(f: Field): VmSpec | undefined {
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const v = this.vms.get(id);
    if (!v) {
      this.r.error(f, `unknown VM "${id}"${this.knownList([...this.vms.keys()], id)}`);
      return undefined;
    }
    return v;
  }

  knownList(known: string[], id: string): string {
    const hint = didYouMean(id, known);
    if (hint) return hint;
    return known.length === 0 ? ' (none are defined)' : ` (defined: ${known.join(', ')})`;
  }

  /** A virtual instant within the run. */
  atTime(f: Field): number | undefined {
    const t = this.r.duration(f, { min: 0 });
    if (t === undefined) return undefined;
    if (this.durationNs !== undefined) {
      if (t > this.durationNs) {
        this.r.error(f, `${formatDurationNs(t)} is beyond the end of the run (duration ${formatDurationNs(this.durationNs)})`);
        return undefined;
      }
      if (t === this.durationNs) this.r.warn(f, `${formatDurationNs(t)} is the end of the run; this has no effect`);
    }
    return t;
  }

  startStop(m: MapView): { startNs: number; stopNs?: number } {
    const startField = m.get('start');
    const startNs = (startField && this.atTime(startField)) ?? 0;
    const stopField = m.get('stop');
    const stopNs = stopField && this.atTime(stopField);
    if (stopField && stopNs !== undefined && stopNs <= startNs) {
      this.r.error(stopField, `stop ${formatDurationNs(stopNs)} must be after start ${formatDurationNs(startNs)}`);
    }
    return stopNs === undefined ? { startNs } : { startNs, stopNs };
  }

  /** `all` or a non-empty list of pCPU indices that exist on the host. */
  cpuList(f: Field, hostLabel: string, pcpus: number | undefined): number[] | 'all' | undefined {
    if (this.r.scalarValue(f) === 'all') return 'all';
    if (typeof this.r.scalarValue(f) === 'string') {
      this.r.error(f, `expected all or a list of pCPU numbers, got ${JSON.stringify(this.r.scalarValue(f))}`);
      return undefined;
    }
    const items = this.r.list(f, 'all or a list of pCPU numbers');
    if (!items) return undefined;
    if (items.length === 0) {
      this.r.error(f, 'empty CPU list; name at least one pCPU or write all');
      return undefined;
    }
    const out: number[] = [];
    for (const it of items) {
      const c = this.pcpu(it, hostLabel, pcpus);
      if (c === undefined) continue;
      if (out.includes(c)) this.r.warn(it, `pCPU ${c} is listed twice`);
      else out.push(c);
    }
    return out.sort((a, b) => a - b);
  }

  pcpu(f: Field, hostLabel: string, pcpus: number | undefined): number | undefined {
    const c = this.r.int(f, { min: 0 });
    if (c === undefined) return undefined;
    if (pcpus !== undefined && c >= pcpus) {
      this.r.error(f, `pCPU ${c} does not exist on host ${hostLabel} (it has ${pcpus})`);
      return undefined;
    }
    return c;
  }
}
