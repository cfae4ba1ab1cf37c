// Test fixture for the world's behavioural specs: a scenario parsed from a small YAML text, and
// a driver that runs the scenario's hosts epoch by epoch the way the host-node service does
// (timeline actions due in each window, VM transfers delivered to their destination at the start
// of the next epoch). Only specs import it.
import { parseScenario, type Scenario } from '@vpmu/scenario';
import { Prng, type SimEvent } from '@vpmu/sim';
import { HostWorld } from '../host-world';
import type { VmTransferOut } from '../world/world-state';

export function scenarioOf(yaml: string): Scenario {
  const parsed = parseScenario(yaml);
  if (!parsed.ok) throw new Error(`test scenario invalid: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return parsed.scenario;
}

export class SmallWorld {
  readonly hosts: HostWorld[];
  /** Every record so far, per host id, in emission order. */
  readonly events = new Map<string, SimEvent[]>();
  readonly transfers: VmTransferOut[] = [];
  private nowNs = 0;
  private pending: VmTransferOut[] = [];

  constructor(readonly scenario: Scenario) {
    const root = Prng.fromSeed(scenario.seed);
    this.hosts = scenario.hosts.map((h) => new HostWorld(scenario, h.id, root));
    for (const h of this.hosts) this.events.set(h.id, []);
  }

  static of(yaml: string): SmallWorld {
    return new SmallWorld(scenarioOf(yaml));
  }

  host(id = this.scenario.hosts[0].id): HostWorld {
    return this.hosts.find((h) => h.id === id)!;
  }

  /** Runs every host epoch by epoch up to `untilNs` (default: the end of the scenario). */
  runUntil(untilNs = this.scenario.durationNs): this {
    const epochNs = this.scenario.epochNs;
    while (this.nowNs < untilNs) {
      const start = this.nowNs;
      const end = Math.min(start + epochNs, untilNs);
      const actions = this.scenario.timeline.filter((a) => a.atNs >= start && a.atNs < end);
      const arriving = this.pending;
      this.pending = [];
      for (const h of this.hosts) {
        const r = h.runEpoch(start, end, actions, arriving.filter((t) => t.toHost === h.id));
        this.events.get(h.id)!.push(...r.events);
        this.pending.push(...r.transfers);
        this.transfers.push(...r.transfers);
      }
      this.nowNs = end;
    }
    return this;
  }

  /** The records of `kind` a host emitted (default: the first host). */
  of<K extends SimEvent['kind']>(kind: K, hostId = this.scenario.hosts[0].id): Extract<SimEvent, { kind: K }>[] {
    return this.events.get(hostId)!.filter((e): e is Extract<SimEvent, { kind: K }> => e.kind === kind);
  }

  findings(kind: string, hostId?: string): Extract<SimEvent, { kind: 'finding' }>[] {
    return this.of('finding', hostId).filter((f) => f.findingKind === kind);
  }
}

/** One intel-spr host `h1` with `pcpus` pCPUs (extra host keys indented under it) and the given VMs. */
export function oneHost(o: { pcpus: number; host?: string; vms: string; timeline?: string; duration?: string; seed?: number }): string {
  return `version: 1
name: world-spec
seed: ${o.seed ?? 7}
duration: ${o.duration ?? '20ms'}
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: ${o.pcpus}
${o.host ?? ''}
vms:
${o.vms}
${o.timeline ? `timeline:\n${o.timeline}` : ''}
`;
}
