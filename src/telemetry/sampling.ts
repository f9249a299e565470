import { TRACING_ENV } from '../vocabulary/env-names';
import type { Env } from '../config/env';

/**
 * What is exported. `outcome` (the default): every refused or failed delivery, accepted ones at
 * `acceptedRatio`, and whatever an incoming sampled `traceparent` asked for. `all` and `none` are the standard
 * `OTEL_TRACES_SAMPLER=always_on` / `always_off`.
 */
export type SamplingPolicy = { mode: 'outcome'; acceptedRatio: number } | { mode: 'all' } | { mode: 'none' };

export const DEFAULT_ACCEPTED_RATIO = 0.1;

export interface PolicyReading {
  policy: SamplingPolicy;
  /** Variables set to something this service does not understand, and what was done instead. */
  warnings: string[];
}

/**
 * `OTEL_TRACES_SAMPLER`: always_on (or parentbased_always_on) exports everything, always_off (or
 * parentbased_always_off) nothing; unset, or any other sampler, keeps outcome sampling (a ratio sampler would
 * drop failures before their outcome is known: BITRIX24_TRACES_ACCEPTED_RATIO is the ratio).
 */
export function samplingPolicy(env: Env): PolicyReading {
  const warnings: string[] = [];
  const sampler = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() ?? '';
  if (sampler === 'always_on' || sampler === 'parentbased_always_on') return { policy: { mode: 'all' }, warnings };
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return { policy: { mode: 'none' }, warnings };
  if (sampler !== '') {
    warnings.push(
      `OTEL_TRACES_SAMPLER=${sampler.slice(0, 40)} is not used: refused deliveries are always exported, ` +
        `accepted ones at ${TRACING_ENV.tracesAcceptedRatio} (always_on / always_off are honoured)`,
    );
  }
  const raw = env[TRACING_ENV.tracesAcceptedRatio]?.trim();
  let acceptedRatio = DEFAULT_ACCEPTED_RATIO;
  if (raw !== undefined && raw !== '') {
    const value = Number(raw);
    if (Number.isFinite(value) && value >= 0 && value <= 1) acceptedRatio = value;
    else
      warnings.push(
        `${TRACING_ENV.tracesAcceptedRatio}=${raw.slice(0, 40)} is not a number from 0 to 1; using ${DEFAULT_ACCEPTED_RATIO}`,
      );
  }
  return { policy: { mode: 'outcome', acceptedRatio }, warnings };
}

export function describePolicy(policy: SamplingPolicy): string {
  if (policy.mode === 'all') return 'all of them (OTEL_TRACES_SAMPLER=always_on)';
  if (policy.mode === 'none') return 'none of them (OTEL_TRACES_SAMPLER=always_off)';
  return `refused or failed deliveries in full, ${Math.round(policy.acceptedRatio * 10_000) / 100}% of accepted ones (${TRACING_ENV.tracesAcceptedRatio})`;
}

const RATIO_SCALE = 2 ** 32;

/**
 * Whether an accepted delivery with this trace id is in the exported share: the last 32 bits of the id (random
 * in W3C ids) against the ratio. Deterministic, so a log line or exemplar written before the outcome is
 * known agrees with what the span processor decides at the end.
 */
export function inAcceptedShare(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(24, 32), 16) < ratio * RATIO_SCALE;
}
