import * as tracing from '@opentelemetry/sdk-trace';

/**
 * The SDK's id generator, except that the ids a recorded request span was given up front (its log lines and
 * stored rows carry them) are handed out when that span is built for export, so the exported span has them.
 */
export class RequestIdGenerator implements tracing.IdGenerator {
  private readonly random = new tracing.RandomIdGenerator();
  private nextTraceId: string | undefined;
  private nextSpanId: string | undefined;

  generateTraceId(): string {
    const id = this.nextTraceId;
    if (id === undefined) return this.random.generateTraceId();
    this.nextTraceId = undefined;
    return id;
  }

  generateSpanId(): string {
    const id = this.nextSpanId;
    if (id === undefined) return this.random.generateSpanId();
    this.nextSpanId = undefined;
    return id;
  }

  /** Ids for a request span made now, before its trace is known to be exported. */
  newTraceId(): string {
    return this.random.generateTraceId();
  }

  newSpanId(): string {
    return this.random.generateSpanId();
  }

  /** The ids the next span started (synchronously, by `start`) receives; cleared whatever happens. */
  withIds<T>(traceId: string, spanId: string, start: () => T): T {
    this.nextTraceId = traceId;
    this.nextSpanId = spanId;
    try {
      return start();
    } finally {
      this.nextTraceId = undefined;
      this.nextSpanId = undefined;
    }
  }
}
