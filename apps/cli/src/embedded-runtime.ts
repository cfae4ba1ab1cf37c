// Embedded mode: conductor, host-node, guest-vm and aggregator boot as four NestJS
// microservices in this one process, each with its own in-process transport server on a shared
// bus, and run the real epoch protocol. The same modules run as separate processes over Kafka.
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { isOperatingError } from '@vpmu/errors';
import { AggregatorModule, AggregatorService, type EventSink, type RunArtifacts } from '@vpmu/aggregator';
import { ConductorModule, ConductorService, type ConductorProgress } from '@vpmu/conductor';
import { GuestVmModule } from '@vpmu/guest-vm';
import { HostNodeModule } from '@vpmu/host-node';
import type { Scenario } from '@vpmu/scenario';
import type { OtlpExporterFactory } from '@vpmu/telemetry';
import { InProcessBus, InProcessTransportServer, RethrowExceptionFilter, type BusMessage } from '@vpmu/transport';

export interface EmbeddedRunRequest {
  runId: string;
  scenario: Scenario;
  scenarioText: string;
  toolVersion: string;
  outDir: string;
  sinks?: EventSink[];
  onProgress?: (p: ConductorProgress) => void;
  /**
   * Test-only: sees (and may replace) every message published on the bus. `replay --verify`
   * tests use it to plant a nondeterminism; production callers never set it.
   */
  busTap?: (message: BusMessage) => BusMessage;
  /** OTLP traces endpoint (null = none). */
  otlpUrl?: string | null;
  otlpExporterFactory?: OtlpExporterFactory;
  /** false: skip report.html and trace.perfetto.json. */
  viewers?: boolean;
  /** The most epochs one grant covers (1: no lookahead windows); default the conductor's. */
  maxWindowEpochs?: number;
}

export interface EmbeddedRunResult extends RunArtifacts {
  barrierRoundTripMs: number[];
  messagesDelivered: number;
}

export class SimulationFailedError extends Error {}

class TappedBus extends InProcessBus {
  constructor(private readonly tap: (message: BusMessage) => BusMessage) {
    super();
  }
  override publish(message: BusMessage): void {
    super.publish(this.tap(message));
  }
}

export async function runEmbedded(req: EmbeddedRunRequest): Promise<EmbeddedRunResult> {
  const bus = req.busTap ? new TappedBus(req.busTap) : new InProcessBus();
  const apps: INestMicroservice[] = [];
  const boot = async (module: Parameters<typeof NestFactory.createMicroservice>[0], group: string): Promise<INestMicroservice> => {
    const app = await NestFactory.createMicroservice(module, { strategy: new InProcessTransportServer(bus, group), logger: false });
    app.useGlobalFilters(new RethrowExceptionFilter());
    await app.listen();
    apps.push(app);
    return app;
  };
  try {
    const aggregatorApp = await boot(
      AggregatorModule.register(bus, {
        outDir: req.outDir,
        transport: 'in-process',
        otlpUrl: req.otlpUrl ?? null,
        ...(req.otlpExporterFactory && { otlpExporterFactory: req.otlpExporterFactory }),
        ...(req.viewers === false && { viewers: false }),
      }),
      'aggregator',
    );
    await boot(HostNodeModule.register(bus, { hosts: 'all' }), 'host-node');
    await boot(GuestVmModule.register(bus, { vms: 'all' }), 'guest-vm');
    const conductorApp = await boot(ConductorModule.register(bus), 'conductor');
    const aggregator = aggregatorApp.get(AggregatorService);
    aggregator.setSinks(req.sinks ?? []);
    const finished = aggregator.whenFinished();
    const conductor = conductorApp.get(ConductorService);
    if (req.onProgress) conductor.onProgress(req.onProgress);
    let failure: Error | null = null;
    bus.onListenerError((err) => {
      if (failure) return;
      failure = err instanceof Error ? err : new Error(typeof err === 'object' ? JSON.stringify(err) : String(err));
      conductor.abort(`a service failed: ${failure.message}`);
    });
    try {
      await conductor.start({ runId: req.runId, scenario: req.scenario, scenarioText: req.scenarioText, toolVersion: req.toolVersion, ...(req.maxWindowEpochs !== undefined && { maxWindowEpochs: req.maxWindowEpochs }) });
      const artifacts = await finished;
      await bus.flush();
      // A service that failed after the conductor's last epoch (while handling RunEnd) has
      // nothing left to abort, but the run still failed.
      if (failure) throw failure;
      return { ...artifacts, barrierRoundTripMs: conductor.barrierRoundTripMs, messagesDelivered: bus.delivered };
    } catch (err) {
      await bus.flush();
      const cause: Error = failure ?? (err as Error);
      // Normally the RunEnd the abort sent has settled the aggregator by now; this settles it
      // (and removes its partial outputs) when no RunEnd could reach it, so the await below
      // never waits for a message that will not come.
      aggregator.failRun(cause);
      await finished.catch(() => undefined);
      if (isOperatingError(cause)) throw cause; // the outside world failed (collector down, disk full), not the model
      const wrapped = new SimulationFailedError(`simulation failed (seed ${req.scenario.seed}): ${cause.message}`);
      wrapped.stack = cause.stack;
      throw wrapped;
    }
  } finally {
    for (const app of apps.reverse()) await app.close();
  }
}
