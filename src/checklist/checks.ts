/** One line of the doctor's checklist. `fail` makes the command exit non-zero; `warn` does not. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What a failure most likely means, and what to do about it. */
  likely?: string;
}

const LABELS: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

export function renderCheck({ status, check, detail, likely }: Check): string {
  const line = `  ${LABELS[status]}  ${check}: ${detail}`;
  return likely ? `${line}\n        likely: ${likely}` : line;
}
