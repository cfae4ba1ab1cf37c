import { parseScenario } from '@vpmu/scenario';
import { worldYaml } from './world-check';
import { generateWorld, type WorldDoc } from './world-generator';

const SEEDS = [1, 2, 3];
const PER_SEED = 50;
const worlds: WorldDoc[] = SEEDS.flatMap((seed) => Array.from({ length: PER_SEED }, (_, i) => generateWorld(seed, i)));
const parsed = worlds.map((w) => parseScenario(worldYaml(w)));

describe('swarm world generator', () => {
  it('is a pure function of (seed, index)', () => {
    expect(worldYaml(generateWorld(7, 3))).toBe(worldYaml(generateWorld(7, 3)));
    expect(worldYaml(generateWorld(7, 3))).not.toBe(worldYaml(generateWorld(8, 3)));
    expect(worldYaml(generateWorld(7, 3))).not.toBe(worldYaml(generateWorld(7, 4)));
  });

  it('makes only worlds validate accepts', () => {
    const refused = worlds.map((w, i) => ({ name: w.name, r: parsed[i] })).filter((x) => !x.r.ok);
    expect(refused.map((x) => `${x.name}: ${x.r.ok ? '' : x.r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)).toEqual([]);
  });

  it('keeps worlds small: a few ms of virtual time, at most 3 hosts and 3 VMs of 2 vCPUs', () => {
    for (const w of worlds) {
      expect(parseInt(w.duration, 10)).toBeLessThanOrEqual(8000);
      expect(w.hosts.length).toBeLessThanOrEqual(3);
      expect(w.vms.length).toBeLessThanOrEqual(3);
      for (const v of w.vms) expect(v.vcpus).toBeLessThanOrEqual(2);
    }
  });

  it('never uses a test-only fault kind', () => {
    const kinds = worlds.flatMap((w) => w.timeline.map((t) => (t.fault as { kind?: string } | undefined)?.kind)).filter(Boolean);
    expect(kinds.length).toBeGreaterThan(0);
    expect(kinds.filter((k) => k!.startsWith('test-'))).toEqual([]);
  });

  it('covers every CPU preset, vPMU mode, perf session kind, program kind, filter, LBR mode, migration (incl. refused), paravirt abuse and fault', () => {
    const seen = new Set<string>();
    worlds.forEach((w, i) => {
      for (const h of w.hosts) {
        seen.add(`cpu:${h.cpu}`);
        if (h.perf) seen.add(h.perf.some((s) => s.sample) ? 'hostPerf:sample' : 'hostPerf:count');
        if (h.noise) seen.add('noise');
      }
      for (const v of w.vms) {
        seen.add(`mode:${v.vpmu.mode}`);
        if (v.vpmu.filter) seen.add(`filter:${(v.vpmu.filter as { action: string }).action}`);
        if (v.vpmu.lbr !== undefined) seen.add(`lbr:${v.vpmu.lbr as string}`);
        if (v.vpmu.armPmu) seen.add('armPmu');
        for (const s of v.guestPerf ?? []) seen.add(`guestPerf:${s.command as string}`);
        for (const step of v.program ?? []) seen.add(`program:${Object.keys(step)[0]}`);
      }
      for (const t of w.timeline) {
        const action = Object.keys(t).find((k) => k !== 'at')!;
        seen.add(`timeline:${action}`);
        if (action === 'fault') seen.add(`fault:${(t.fault as { kind: string }).kind}`);
      }
      const p = parsed[i];
      if (p.ok && p.warnings.some((x) => /migration will be refused/.test(x))) seen.add('migration:refused');
    });
    const want = [
      'cpu:intel-spr', 'cpu:intel-icx', 'cpu:intel-skx', 'cpu:arm-a76-a55', 'cpu:arm-hetero-n6-n4',
      'mode:none', 'mode:emulated', 'mode:passthrough', 'mode:paravirt',
      'hostPerf:sample', 'hostPerf:count', 'noise', 'guestPerf:stat', 'guestPerf:record',
      'filter:allow', 'filter:deny', 'lbr:none', 'lbr:pv', 'lbr:lazy', 'armPmu',
      'program:wrmsr', 'program:rdpmc', 'program:loop', 'program:hypercall', 'program:armRead', 'program:setPmu', 'program:setNrCounters',
      'timeline:migrate', 'timeline:hostPerf', 'timeline:guestPerf', 'timeline:setPmu', 'timeline:fault', 'migration:refused',
      'fault:pmi-skid', 'fault:drop-pmi', 'fault:late-pmi', 'fault:pmi-overcount', 'fault:counter-stuck-zero', 'fault:kernel-leak-into-user', 'fault:branch-miscount-at-exit',
    ];
    expect(want.filter((x) => !seen.has(x))).toEqual([]);
  });
});
