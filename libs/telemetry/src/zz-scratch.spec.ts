test('x', async () => {
  const M = require('node:module');
  console.log(typeof M._load, typeof M.createRequire, typeof (globalThis as any).process.mainModule);
  const real = M.createRequire(__filename);
  const mod = real('@opentelemetry/exporter-trace-otlp-proto');
  const e = new mod.OTLPTraceExporter({ url: 'http://127.0.0.1:9/v1/traces' });
  const r: any = await new Promise((res) => e.export([], res));
  console.log('createRequire result', r.code, r.error?.message);
  try {
    const mod2 = M._load('@opentelemetry/exporter-trace-otlp-proto', module, false);
    const e2 = new mod2.OTLPTraceExporter({ url: 'http://127.0.0.1:9/v1/traces' });
    const r2: any = await new Promise((res) => e2.export([], res));
    console.log('_load result', r2.code, r2.error?.message);
  } catch (err) { console.log('load err', (err as Error).message); }
});
