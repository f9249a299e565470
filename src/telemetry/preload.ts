// Loaded with `node --require` before anything else, so that http and koa are instrumented when first
// required. main.ts imports it too (first), which makes a start without --require behave the same.
import { startTelemetry, type Telemetry } from './tracing';

const key = Symbol.for('bitrix24-webhook-guard.telemetry');
const holder = globalThis as { [key]?: Telemetry };

holder[key] ??= startTelemetry({ env: process.env });
export const telemetry: Telemetry = holder[key];
