import type { NODE_ANSWER_STATUSES } from '../vocabulary/names';

type NodeAnswerStatus = (typeof NODE_ANSWER_STATUSES)[number];

/** Requests Node's HTTP server answered itself, before the app saw them; process-wide, read by /metrics. */
export const answeredByNode: Record<NodeAnswerStatus, number> = { '400': 0, '408': 0, '413': 0, '431': 0 };

/** Counts one answer Node's server gave (written by src/serve/connection-guards.ts, the one clientError handler). */
export function recordNodeAnswer(status: number): void {
  const key = String(status) as NodeAnswerStatus;
  if (key in answeredByNode) answeredByNode[key]++;
}
