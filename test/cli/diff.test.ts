// `vpmu diff A B` on runs whose differences are known by construction, through the built CLI:
// (1) the same VM under an emulated and a passthrough vPMU on a host with the NMI watchdog: the
// passthrough guest's exits, PMIs and the watchdog finding differ (the watchdog counts with
// exclude_guest, so it is blind while a passthrough guest runs: the rule of the mediated vPMU
// series, "KVM: x86/pmu: Introduce passthrough vPMU", 2024); (2) the same scenario and seed as
// another tool version would have recorded it, one event value changed: diff names that event.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeEventBatch, encodeEventBatch } from '@vpmu/proto';
import { rewriteRecording } from '@vpmu/recording';
import { vpmu } from '../support/cli';
import { tempDir } from '../support/run-scenario';

const dir = tempDir('diff');

function scenario(mode: string): string {
  return `version: 1
name: diff-${mode}
seed: 7
duration: 20ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
    nmiWatchdog: true
vms:
  - id: vm1
    host: h1
    vcpus: 1
    affinity: [0]
    vpmu: { mode: ${mode} }
    workload: specint
    guestPerf:
      - id: stat
        command: stat
        events: [instructions, cycles]
`;
}

function run(mode: string): string {
  const file = path.join(dir, `${mode}.yaml`);
  fs.writeFileSync(file, scenario(mode));
  const out = path.join(dir, `out-${mode}`);
  const r = vpmu(['run', file, '--out', out, '--quiet', '--json']);
  expect(r.code).toBe(0);
  return out;
}

interface DiffJson {
  identicalEvents: boolean;
  sameScenario: boolean;
  divergenceChecked: string;
  divergence: { epoch: number; node: string; index: number; fields: string[] } | null;
  vms: { id: string; vpmu: [string, string]; vmExitsTotal: { a: number; b: number }; vmExits: Record<string, { a: number; b: number }> }[];
  findings: { added: { kind: string; host: string }[]; gone: { kind: string }[] };
  a: { toolVersion: string };
  b: { toolVersion: string };
}

let emulated: string;
let passthrough: string;
beforeAll(() => {
  emulated = run('emulated');
  passthrough = run('passthrough');
}, 180_000);

describe('vpmu diff on an emulated and a passthrough run of the same VM', () => {
  it('reports the vPMU modes, the exits that differ and the watchdog finding only the passthrough run has (--json)', () => {
    const r = vpmu(['diff', emulated, passthrough, '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as DiffJson;
    expect(d.identicalEvents).toBe(false);
    expect(d.sameScenario).toBe(false);
    expect(d.divergenceChecked).toBe('different-scenario-or-seed');
    const vm = d.vms.find((v) => v.id === 'vm1')!;
    expect(vm.vpmu).toEqual(['emulated', 'passthrough']);
    // A passthrough vPMU switches the PMU context at every VM entry and exit; the emulated one does not exit for counting.
    expect(vm.vmExitsTotal.a).not.toBe(vm.vmExitsTotal.b);
    // Blind watchdog: perf's exclude_guest host events stop counting while the mediated (passthrough) guest owns the PMU.
    expect(d.findings.added.map((f) => f.kind)).toContain('nmi-watchdog-blind');
    expect(d.findings.gone.map((f) => f.kind)).not.toContain('nmi-watchdog-blind');
  });

  it('prints the figures side by side with * on the differing ones, and the finding added', () => {
    const r = vpmu(['diff', emulated, passthrough]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\* vm vm1 vpmu +emulated +passthrough$/m);
    expect(r.stdout).toMatch(/^\+ finding nmi-watchdog-blind at h1/m);
    expect(r.stdout).toMatch(/events: differ/);
  });

  it('a run against itself: identical events, no difference', () => {
    const d = JSON.parse(vpmu(['diff', emulated, path.join(emulated, 'recording.vpmurec'), '--json']).stdout) as DiffJson & { differences: number };
    expect(d.identicalEvents).toBe(true);
    expect(d.differences).toBe(0);
    expect(d.divergence).toBeNull();
  });
});

describe('vpmu diff on the same scenario and seed recorded by another tool version', () => {
  const EPOCH = 9;
  let other: string;
  let index = -1;
  beforeAll(() => {
    const otherDir = path.join(dir, 'other-version');
    fs.mkdirSync(otherDir);
    other = path.join(otherDir, 'recording.vpmurec');
    rewriteRecording(path.join(passthrough, 'recording.vpmurec'), other, {
      header: { toolVersion: '0.0.1+olderbuild' },
      editEpoch: (e) => {
        if (e.epoch !== EPOCH) return e.frames;
        return e.frames.map((f) => {
          const events = decodeEventBatch(f.batch);
          if (index >= 0 || events.length === 0) return f;
          index = events.length - 1;
          const ev = events[index] as unknown as { atNs: number };
          ev.atNs += 1;
          return { node: f.node, batch: encodeEventBatch(events, e.epoch * 1_000_000), eventCount: events.length };
        });
      },
    });
  });

  it('names the first diverging event (the one edited) and both tool versions', () => {
    expect(index).toBeGreaterThanOrEqual(0);
    const r = vpmu(['diff', passthrough, other, '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as DiffJson;
    expect(d.b.toolVersion).toBe('0.0.1+olderbuild');
    expect(d.a.toolVersion).not.toBe(d.b.toolVersion);
    expect(d.sameScenario).toBe(true);
    expect(d.divergenceChecked).toBe('compared');
    expect(d.divergence).toMatchObject({ epoch: EPOCH, index });
    expect(d.divergence!.fields).toContain('atNs');
    const text = vpmu(['diff', passthrough, other]);
    expect(text.stdout).toMatch(new RegExp(`first diverging event at epoch ${EPOCH}, node \\S+, event #${index}`));
  });
});

describe('vpmu diff bad input', () => {
  it('a path that is not a run: exit 2, one sentence', () => {
    const r = vpmu(['diff', path.join(dir, 'nope'), emulated]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: vpmu diff: .*nope does not exist; give a run's output directory/);
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const r2 = vpmu(['diff', emulated, empty]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/holds neither recording\.vpmurec nor summary\.json/);
  });
});
