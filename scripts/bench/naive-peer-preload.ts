// The naive peer of the benchmark: what a user would write. bare-koa.js (Koa + koa-bodyparser + the same token
// check) preloaded with this file: `node --require naive-peer-preload.js bare-koa.js`, i.e. sdk-node with
// getNodeAutoInstrumentations() at its defaults, configured by the standard OTEL_* variables (the bench sets
// the same OTLP sink as the service's, and the default sampler exports 100%).

import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK } from '@opentelemetry/sdk-node';

new NodeSDK({ instrumentations: [getNodeAutoInstrumentations()] }).start();
