// Program steps beyond x86 MSR access: paravirt `hypercall`, arm64 `armRead` / `armWrite`, and
// `expect: { errno }`.
import { parseScenario } from './scenario.parser';

const doc = (program: string) => `version: 1
name: ops
duration: 10ms
hosts: [{ id: h1, cpu: intel-spr, pcpus: 2 }]
vms:
  - id: vm1
    host: h1
    vcpus: 2
    vpmu: { mode: paravirt }
    program:
${program}
`;

function ok(program: string) {
  const r = parseScenario(doc(program));
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.scenario.vms[0].program;
}
function errors(program: string): string {
  const r = parseScenario(doc(program));
  if (r.ok) throw new Error('expected errors');
  return r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
}

describe('program ops: hypercall, armRead, armWrite, expect errno', () => {
  it('parses hypercalls with attribute defaults and event names', () => {
    const p = ok(`      - hypercall: { call: open, id: 5, event: branches, period: 1000, sampleType: 1 }
      - hypercall: { call: open, id: 10, count: 20, vcpu: 1, type: 4, config: 0x1c0, excludeUser: true }
      - hypercall: { call: read, id: 5 }
      - expect: { step: 2, errno: EBADF }
      - expect: { step: 0, equals: 1 }`);
    expect(p[0]).toEqual({ op: 'hypercall', call: 'open', id: 5, vcpu: 0, count: 1, attr: { type: 0, config: 4, period: 1000, freq: false, sampleType: 1, flags: 0, excludeUser: false, excludeKernel: false } });
    expect(p[1]).toMatchObject({ vcpu: 1, count: 20, attr: { type: 4, config: 0x1c0, excludeUser: true } });
    expect(p[3]).toEqual({ op: 'expect', step: 2, errno: 'EBADF' });
  });

  it('parses arm register accesses', () => {
    const p = ok(`      - armRead: { reg: PMEVCNTR_EL0, n: 3 }
      - armWrite: { reg: PMCNTENSET_EL0, value: 0xffffffff, vcpu: 1 }
      - expect: { step: 0, fault: undefined }`);
    expect(p[0]).toEqual({ op: 'armRead', reg: 'PMEVCNTR_EL0', n: 3, vcpu: 0 });
    expect(p[1]).toEqual({ op: 'armWrite', reg: 'PMCNTENSET_EL0', value: 0xffffffff, vcpu: 1 });
  });

  it('rejects bad hypercalls, unknown registers and non-errno names', () => {
    expect(errors(`      - hypercall: { call: frobnicate, id: 1 }`)).toContain('expected one of open|close|enable|disable|read');
    expect(errors(`      - hypercall: { call: close, id: 1, count: 3 }`)).toContain('count repeats open only');
    expect(errors(`      - hypercall: { call: open, id: 1, event: topdown-slots }`)).toContain('expected one of');
    expect(errors(`      - armRead: { reg: PMFOO_EL0 }`)).toContain('expected one of PMCR_EL0');
    expect(errors(`      - hypercall: { call: read, id: 1 }\n      - expect: { step: 0, errno: busy }`)).toContain('is not an errno name');
    expect(errors(`      - hypercall: { call: read, id: 1, vcpu: 2 }`)).toContain('vCPU 2 does not exist');
  });
});
