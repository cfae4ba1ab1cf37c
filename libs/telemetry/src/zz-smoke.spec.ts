import { makeSyntheticRun, PerfettoWriter, OtelTraceBuilder, ReportCollector, renderHtmlReport } from '@vpmu/telemetry';
import { writeFileSync } from 'node:fs';
test("smoke", () => {
const run = makeSyntheticRun();
let out = '';
const pw = new PerfettoWriter((c) => (out += c));
const ob = new OtelTraceBuilder({ seed: 42, runId: run.summary.run.id, runStartUnixNs: 1700000000000000000n });
const rc = new ReportCollector();
for (const b of run.batches) { pw.onEvents(b); ob.onEvents(b); rc.onEvents(b); }
pw.finish(run.summary);
const spans = ob.finish(run.summary);
const data = rc.finish(run.summary);
writeFileSync('/tmp/smoke.perfetto.json', out);
writeFileSync('/tmp/smoke.html', renderHtmlReport(run.summary, data));
const j = JSON.parse(out);
console.log('perfetto events', j.traceEvents.length, 'spans', spans.length, 'byKind', run.summary.events.byKind);
console.log(spans.slice(0, 3).map((s) => s.name), spans.filter(s=>s.name.startsWith('migrate')||s.path.includes('phase')).map(s=>s.name));
console.log(data.vcpus.map(v => [v.vm, v.vcpu, v.slices.length, v.pmis.length]));
});
