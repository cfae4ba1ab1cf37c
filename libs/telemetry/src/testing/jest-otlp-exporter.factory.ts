// Jest runs each test file in a module sandbox that cannot execute dynamic `import()` (it needs
// --experimental-vm-modules). The official OTLP exporter loads `http` lazily with `import('http')`,
// so inside Jest it fails with "A dynamic import callback was invoked without
// --experimental-vm-modules". This factory loads the very same package through Node's own module
// loader instead of Jest's, so tests exercise the real exporter over real HTTP. Production code
// uses the default factory; specs that need this import it by path (it is not in the index).
import Module from 'node:module';
import type { OtlpExporterFactory } from '../otlp.exporter';

interface NodeModuleLoader {
  _load(request: string, parent: NodeModule | undefined, isMain: boolean): unknown;
}

export const otlpExporterFactoryForJest: OtlpExporterFactory = (config) => {
  const loaded = (Module as unknown as NodeModuleLoader)._load('@opentelemetry/exporter-trace-otlp-proto', module, false) as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new loaded.OTLPTraceExporter(config);
};
