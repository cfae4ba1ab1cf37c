// Repeated findings aggregate: a paravirt guest whose one program step opens 100,000 events past
// its limit of 1024 gets ENOENT 98,976 times. The model folds the refusals of one step into one
// finding with a count, and the summary keeps one entry per kind, place and detail class, so the
// outputs and the process's memory stay small (it used to be 98,976 findings: a 24 MB summary, a
// 57 MB report and ~800 MB RSS for a 5 ms run). Runs the built CLI as a real process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI } from '../support/cli';
import { REPO_ROOT, tempDir } from '../support/run-scenario';

const FLOOD = `version: 1
name: pv-flood
duration: 5ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: vm1
    host: h1
    vpmu: { mode: paravirt }
    program:
      - hypercall: { call: open, id: 1, count: 100000 }
      - hypercall: { call: read, id: 1 }
      - hypercall: { call: open, id: 1 }
`;

/** Runs `vpmu run` with a preload that reports the process's peak RSS (KiB) on exit. */
function runMeasured(file: string, out: string): { code: number; stdout: string; stderr: string; maxRssKiB: number } {
  const preload = path.join(tempDir('rss'), 'rss.js');
  fs.writeFileSync(preload, "process.on('exit', () => process.stderr.write(`\\nmaxrss ${process.resourceUsage().maxRSS}\\n`));\n");
  const r = spawnSync(process.execPath, ['-r', preload, CLI, 'run', file, '--out', out, '--quiet'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  const m = /maxrss (\d+)/.exec(r.stderr);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, maxRssKiB: m ? Number(m[1]) : NaN };
}

describe('repeated findings', () => {
  it('a 100,000-call paravirt step gives one finding with a count, and bounded outputs and memory', () => {
    const dir = tempDir('flood');
    const file = path.join(dir, 'flood.yaml');
    fs.writeFileSync(file, FLOOD);
    const out = path.join(dir, 'out');
    const r = runMeasured(file, out);
    expect(r.code).toBe(0);

    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    const limit = summary.findings.filter((f: { kind: string }) => f.kind === 'pv-limit-exceeded');
    expect(limit).toEqual([
      expect.objectContaining({ kind: 'pv-limit-exceeded', vm: 'vm1', vcpu: 0, count: 100_000 - 1024, atNs: limit[0].atNs, lastAtNs: limit[0].atNs }),
    ]);
    expect(limit[0].detail).toMatch(/open id 1025: .*limit 1024.* → ENOENT to the guest \(and the same for 98975 more calls of this step, ids up to 100000: 98976 in all\)/);
    // The recorded stream holds one finding event for the burst (plus the single duplicate open's).
    expect(summary.events.byKind.finding).toBeLessThanOrEqual(3);
    expect(summary.vms.vm1.program[0]).toMatchObject({ result: 'ENOENT', value: 1024 });

    // Sizes and memory: bounded by the program, not by the number of calls it makes.
    expect(fs.statSync(path.join(out, 'summary.json')).size).toBeLessThan(1_000_000);
    expect(fs.statSync(path.join(out, 'report.html')).size).toBeLessThan(2_000_000);
    expect(fs.statSync(path.join(out, 'recording.vpmurec')).size).toBeLessThan(1_000_000);
    expect(r.maxRssKiB).toBeLessThan(300 * 1024);
    expect(r.stdout).toMatch(/findings: \d+ \(.*pv-limit-exceeded 98976/);
  });
});
