// The paravirtual perf interface in the world (libs/host/src/paravirt-world.ts).
// Guest perf in a paravirt guest opens host perf events by hypercall; counts come from them. A
// malicious guest's hypercalls (limit exhaustion, duplicate / stale ids, bad attributes, a close
// on one vCPU racing an enable on another) get errors and findings and never touch the host's
// own perf events or another paravirt VM.
import { runScenarioText } from '../support/run-scenario';

const EVIL_PROGRAM = `    program:
      - hypercall: { call: open, id: 100, event: instructions }
      - hypercall: { call: open, id: 100, event: cycles }
      - expect: { step: 1, errno: EEXIST }
      - hypercall: { call: open, id: 101, type: 7 }
      - expect: { step: 3, errno: EINVAL }
      - hypercall: { call: open, id: 102, event: cycles, excludeUser: true }
      - expect: { step: 5, errno: EOPNOTSUPP }
      - hypercall: { call: open, id: 103, config: 7 }
      - expect: { step: 7, errno: ENOENT }
      - hypercall: { call: open, id: 104, event: branches, sampleType: 1 }
      - expect: { step: 9, errno: EINVAL }
      - hypercall: { call: open, id: 105, event: branches, flags: 0x40 }
      - expect: { step: 11, errno: EINVAL }
      - hypercall: { call: open, id: 200, count: 12, event: cycles }
      - expect: { step: 13, errno: ENOENT, equals: 7 }
      - hypercall: { call: enable, id: 200 }
      - hypercall: { call: enable, id: 201, vcpu: 1 }
      - hypercall: { call: close, id: 100, vcpu: 1 }
      - hypercall: { call: enable, id: 100, vcpu: 0 }
      - expect: { step: 18, errno: EBADF }
      - hypercall: { call: read, id: 100 }
      - expect: { step: 20, errno: EBADF }
      - hypercall: { call: disable, id: 4242, vcpu: 1 }
      - expect: { step: 22, errno: EBADF }
      - hypercall: { call: close, id: 202 }
      - hypercall: { call: close, id: 202, vcpu: 1 }
      - expect: { step: 25, errno: EBADF }
      - hypercall: { call: open, id: 202, event: instructions }
      - expect: { step: 27, equals: 1 }
`;

const world = (evilProgram: string) => `version: 1
name: pv-isolation
seed: 21
duration: 80ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 4
    perf:
      - { id: host-stat, events: [instructions, cycles], cpus: [2, 3] }
vms:
  - id: evil
    host: h1
    vcpus: 2
    affinity: [0, 1]
    vpmu: { mode: paravirt, pvEventLimit: 8 }
    workload: specint
    guestPerf:
      - { id: stat, command: stat, events: [branches] }
${evilProgram}
  - id: good
    host: h1
    vcpus: 2
    affinity: [2, 3]
    vpmu: { mode: paravirt }
    workload: specint
    guestPerf:
      - { id: stat, command: stat, events: [instructions, cycles, branches] }
      - { id: rec, command: record, events: [branch-misses], sample: { period: 100000 } }
`;

describe('paravirtual perf in the world', () => {
  // The 2010 patch copies the guest's attr flags and forces no exclude_host: the per-task host
  // event on the vCPU thread also counts the thread's host time (exit handling, hypercalls), so
  // the guest reads a little more than it retired.
  it('counts through the host events, plus the vCPU thread\'s host time (no forced exclude_host); samples reach the guest', async () => {
    const run = await runScenarioText(world(''));
    const good = run.summary.vms.good;
    for (const e of ['instructions', 'cycles', 'branches', 'branch-misses']) {
      expect(good.counters[e].actual).toBeGreaterThan(0);
      expect(good.counters[e].errorPct).toBeGreaterThanOrEqual(0);
      expect(good.counters[e].errorPct).toBeLessThan(2);
    }
    expect(good.counters.instructions.errorPct).toBeGreaterThan(0);
    expect(good.vmExits.hypercall).toBeGreaterThanOrEqual(2 * 2 * 4); // open + enable per event and vCPU
    const rec = good.guestPerf.find((g) => g.command === 'record:rec')!;
    // ~count / period samples; the ones pending since the last entry of each vCPU are not delivered yet.
    expect(rec.samples).toBeGreaterThan(0.7 * (rec.count / 100000));
    expect(rec.samples).toBeLessThanOrEqual(Math.ceil(rec.count / 100000));
    expect(good.pmis.delivered).toBeGreaterThan(0);
    expect(run.summary.findings.filter((f) => f.kind.startsWith('pv-'))).toEqual([]);
  });

  // A host PMI is an NMI; an NMI while the guest runs always causes a VM exit (VMX: NMI exiting),
  // so the patch's overflow handler runs at once and the guest hears of it at that re-entry, not
  // at whatever exit comes next (up to a timer tick later).
  it('a host event overflow forces a VM exit at once (the host PMI is an NMI)', async () => {
    const run = await runScenarioText(`version: 1
name: pv-nmi
seed: 5
duration: 30ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: paravirt }
    workload: specint
    guestPerf:
      - { id: rec, command: record, events: [instructions], sample: { period: 2000000 } }
`);
    const vm = run.summary.vms.vm1;
    const rec = vm.guestPerf.find((g) => g.command === 'record:rec')!;
    // One NMI exit per overflow (bursts aside): as many as the samples the guest got, give or take the last.
    expect(vm.vmExits.pmi).toBeGreaterThan(0.8 * rec.samples);
    expect(vm.pmis.delivered).toBeGreaterThan(0.8 * rec.samples);
  });

  // kvm_pv_perf_op_read returns the host event's count: a per-task event on the vCPU thread
  // counts the guest code that thread ran, a program loop included.
  it('a read after a loop returns the loop\'s instructions', async () => {
    const run = await runScenarioText(`version: 1
name: pv-loop
seed: 5
duration: 2ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: paravirt }
    workload: specint
    program:
      - hypercall: { call: open, id: 1, event: instructions }
      - hypercall: { call: enable, id: 1 }
      - loop: { instructions: 5000, branches: 50 }
      - hypercall: { call: read, id: 1 }
      - expect: { step: 3, atLeast: 5000 }
`);
    const prog = run.summary.vms.vm1.program;
    expect(prog[3].value).toBeGreaterThanOrEqual(5000);
    expect(prog[4].ok).toBe(true);
  });

  // Each program hypercall is a VMCALL exit (the guest side of the interface calls
  // kvm_hypercall*, every one a VM exit, as a guest perf session's calls are): the summary's exit
  // table counts them under `hypercall`, and the loop's cycles reach a cycles event like its
  // instructions reach an instructions event (libs/kvm program-loop.ts: one cycle per instruction).
  it('program hypercalls are counted as VMCALL exits; a cycles event counts the loop too', async () => {
    const run = await runScenarioText(`version: 1
name: pv-exits
seed: 5
duration: 2ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: paravirt }
    workload: idle
    program:
      - hypercall: { call: open, id: 1, event: cycles }
      - hypercall: { call: enable, id: 1 }
      - loop: { instructions: 5000, branches: 50 }
      - hypercall: { call: read, id: 1 }
      - expect: { step: 3, atLeast: 5000 }
      - hypercall: { call: open, id: 2, count: 3 }
      - hypercall: { call: close, id: 9 }
`);
    const prog = run.summary.vms.vm1.program;
    expect(prog[4].ok).toBe(true);
    expect(prog[6].result).toBe('EBADF');
    // 1 + 1 + 1 + 3 + 1, the refused close included: the guest exited to make it.
    expect(run.summary.vms.vm1.vmExits.hypercall).toBe(7);
  });

  it('a malicious guest gets errors and findings, and cannot touch host perf or another VM', async () => {
    const benign = await runScenarioText(world(''));
    const evil = await runScenarioText(world(EVIL_PROGRAM));
    const prog = evil.summary.vms.evil.program;
    expect(prog.filter((s) => s.op === 'expect').map((s) => [s.step, s.ok])).toEqual(prog.filter((s) => s.op === 'expect').map((s) => [s.step, true]));
    expect(prog[13]).toMatchObject({ result: 'ENOENT', value: 7 });
    const kinds = (k: string) => evil.summary.findings.filter((f) => f.kind === k && f.vm === 'evil');
    // Repeats fold into one summary entry with a count (docs/findings.md "Repeated findings").
    const total = (k: string) => kinds(k).reduce((n, f) => n + f.count, 0);
    // 5 from the program's burst (one finding, count 5), 1 when the guest's own perf session then finds the table full on vCPU 1.
    expect(kinds('pv-limit-exceeded').map((f) => [f.vcpu, f.count])).toEqual([[0, 5], [1, 1]]);
    expect(kinds('pv-limit-exceeded')[0].detail).toMatch(/open id 207: .* → ENOENT to the guest \(and the same for 4 more calls of this step, ids up to 211: 5 in all\)/);
    expect(total('pv-error-to-guest')).toBeGreaterThanOrEqual(6);
    expect(total('pv-stale-id')).toBe(4);
    expect(kinds('pv-stale-id')[0].detail).toContain('was closed');
    expect(evil.summary.findings.filter((f) => f.vm !== 'evil')).toEqual([]);
    expect(evil.summary.findings.filter((f) => f.kind === 'pv-host-error')).toEqual([]);

    // The other paravirt VM and the host's own perf events see exactly what they see without the attack.
    expect(evil.summary.vms.good.counters).toEqual(benign.summary.vms.good.counters);
    expect(evil.summary.vms.good.guestPerf).toEqual(benign.summary.vms.good.guestPerf);
    const hostRows = (r: typeof evil) => r.summary.hosts.h1.perfEvents.filter((p) => p.id.startsWith('host-stat'));
    expect(hostRows(evil)).toEqual(hostRows(benign));
    expect(hostRows(evil).every((p) => p.state === 'active' && p.count > 0)).toBe(true);

    // Host perf created one event per successful open (100, 200..206, 202 again, the session's on
    // vCPU 0); the closed ones (100, the first 202) are off, and only the enabled ones count:
    // 200, 201 and the session's. Nothing went to ERROR.
    const evilHostEvents = evil.summary.hosts.h1.perfEvents.filter((p) => p.id.startsWith('kvm/pv/evil/'));
    expect(evilHostEvents).toHaveLength(10);
    expect(evilHostEvents.filter((p) => p.state === 'active').map((p) => p.id)).toEqual(['kvm/pv/evil/2', 'kvm/pv/evil/3', 'kvm/pv/evil/10']);
    expect(evilHostEvents.filter((p) => p.state === 'error')).toEqual([]);
    expect(evilHostEvents[0]).toMatchObject({ state: 'off', count: 0 });
  });

  it('the same seed gives the same digest', async () => {
    const a = await runScenarioText(world(EVIL_PROGRAM));
    const b = await runScenarioText(world(EVIL_PROGRAM));
    expect(a.summary.digest).toBe(b.summary.digest);
  });
});
