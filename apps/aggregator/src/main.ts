// `node dist/apps/aggregator/main.js --kafka BROKERS [--out DIR] [--group G]`
// The aggregator on Kafka. Each run is written to DIR/<scenario name>/ (recording.vpmurec,
// summary.json); when the run ends it answers the conductor with a RunResult on vpmu.reports
// carrying the summary and the paths, which is how `vpmu run --kafka` prints them.
// Environment: KAFKA_BROKERS, VPMU_OUT, VPMU_GROUP, OTEL_EXPORTER_OTLP_ENDPOINT. See docs/cluster.md.
import 'reflect-metadata';
import * as path from 'node:path';
import { encodeEnvelope, pb } from '@vpmu/proto';
import { AGGREGATOR_NODE, CONDUCTOR_NODE, runContextFromStart, startService, TOPICS } from '@vpmu/transport';
import { resolveOtlpTracesUrl } from '@vpmu/telemetry';
import { AggregatorModule } from './aggregator.module';
import { AggregatorService, type AggregatorConfig } from './aggregator.service';

export function start(): Promise<void> {
  // The service reads outDir when a run starts and ends; it is set per run, before RunStart.
  // Traces go to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT when set (Jaeger in docker-compose).
  const aggregatorConfig: AggregatorConfig = { outDir: 'out', transport: 'kafka', otlpUrl: resolveOtlpTracesUrl(undefined) };
  let service: AggregatorService | null = null;
  let runId = '';
  let seq = 0;
  return startService({
    service: 'aggregator',
    module: (bus) => AggregatorModule.register(bus, aggregatorConfig),
    adoption: (app) => app.get(AggregatorService),
    beforeRunStart: (m, config) => {
      // One harmless path component: a name like ".." must not write outside --out.
      const safe = runContextFromStart(m).scenario.name.replace(/[^A-Za-z0-9_.-]+/g, '-');
      const name = safe === '' || /^\.+$/.test(safe) ? 'run' : safe;
      aggregatorConfig.outDir = path.resolve(config.out, name);
      runId = m.runId ?? '';
      // Dead letters are counted per run (the counter lives as long as the process).
      if (service) service.deadLetters = 0;
    },
    afterStart: (app, bus, _config, log) => {
      service = app.get(AggregatorService);
      service!.onRejected = log;
      const answer = (result: { summaryJson?: string; files?: string[]; error?: string }): void => {
        const env = pb.Envelope.create({ runId, sourceNode: AGGREGATOR_NODE, seq: seq++, destination: CONDUCTOR_NODE, runResult: { runId, ...result } });
        bus.publish({ topic: TOPICS.reports, key: CONDUCTOR_NODE, value: encodeEnvelope(env) });
      };
      const loop = (): void => {
        service!.whenFinished().then(
          (r) => {
            log(`run ${r.summary.run.id} written to ${aggregatorConfig.outDir} (digest ${r.summary.digest.slice(0, 16)}…, ${r.summary.events.total} events, ${r.summary.deadLetters ?? 0} dead letters)`);
            answer({ summaryJson: JSON.stringify(r.summary), files: r.files });
            loop();
          },
          (err: Error) => {
            log(`run ${runId} failed: ${err.message}`);
            answer({ error: err.message });
            loop();
          },
        );
      };
      loop();
    },
  });
}

if (require.main === module) void start();
