import client from 'prom-client';
import { type DeliveryMetrics, type DeliveryMetricsOptions, registerDeliveryMetrics } from './delivery-metrics';
import { registerStoreMetrics, type StoreMetrics } from './store-metrics';
import { registerTracingMetrics } from './tracing-metrics';

export { EVENT_NAME_PATTERN, MAX_DISTINCT_EVENTS } from './delivery-metrics';

/** prom-client's gauges named *_total, which Prometheus' linter (promtool check metrics) rejects. */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

export interface ServiceMetrics extends DeliveryMetrics, StoreMetrics {
  /** Prometheus text, or OpenMetrics with exemplars when the Accept header asks for it. */
  render(accept: string | undefined): Promise<RenderedMetrics>;
}

export interface MetricsOptions extends DeliveryMetricsOptions {
  /** prom-client's process and Node.js metrics; off only where several instances share a process. */
  defaultMetrics?: boolean;
  /** Registers more metrics (e.g. forwarding's) in the service's registry, before it is rendered. */
  register?: (registry: client.Registry) => void;
}

/** The service's registry: what deliveries, the store and tracing report, plus what `register` adds. */
export function createMetrics(options: MetricsOptions): ServiceMetrics {
  // Exemplars exist only in OpenMetrics, and prom-client allows them only on an OpenMetrics registry, so the
  // metrics live in one and a second registry holding the same objects renders the plain text format.
  const openMetrics = new client.Registry<client.OpenMetricsContentType>();
  openMetrics.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
  const registers = [openMetrics];
  const delivery = registerDeliveryMetrics(registers, options);
  const store = registerStoreMetrics(registers);
  if (options.defaultMetrics !== false) {
    client.collectDefaultMetrics({ register: openMetrics });
    for (const name of MISNAMED_DEFAULT_GAUGES) openMetrics.removeSingleMetric(name);
  }
  registerTracingMetrics(registers);
  options.register?.(openMetrics as unknown as client.Registry);
  return { ...delivery, ...store, render: renderer(openMetrics) };
}

function renderer(openMetrics: client.Registry<client.OpenMetricsContentType>): ServiceMetrics['render'] {
  const text = new client.Registry();
  const counterNames = new Map<{ name: string }, string>();
  for (const metric of openMetrics.getMetricsAsArray() as unknown as Array<
    client.Metric & { name: string; type: string }
  >) {
    text.registerMetric(metric);
    if (metric.type === 'counter') counterNames.set(metric, metric.name);
  }
  return async (accept) => {
    if (accept?.includes('application/openmetrics-text')) {
      return { contentType: openMetrics.contentType, body: await openMetrics.metrics() };
    }
    // Rendering OpenMetrics strips `_total` from counter names in place; the text format needs it back.
    for (const [metric, name] of counterNames) metric.name = name;
    return { contentType: text.contentType, body: await text.metrics() };
  };
}
