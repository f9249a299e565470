import { terminalSafe } from './terminal-text';
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
  // Details may quote what a remote server answered: escaped for the terminal.
  const line = `  ${LABELS[status]}  ${terminalSafe(check)}: ${terminalSafe(detail)}`;
  return likely ? `${line}\n        likely: ${terminalSafe(likely)}` : line;
}
