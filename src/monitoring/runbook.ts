// The runbook is hand-written prose; the facts of each alert (expression, threshold, for, severity) are
// spliced into marked blocks from the alert specs, so they cannot drift from the rules.
import { ALERTS, alertExpression, type AlertSpec } from './alerts';
import { GENERATE_COMMAND } from './constants';

export const blockStart = (alert: AlertSpec) => `<!-- generated:${alert.name}:start -->`;
export const blockEnd = (alert: AlertSpec) => `<!-- generated:${alert.name}:end -->`;

export function alertFactsBlock(alert: AlertSpec): string {
  return [
    blockStart(alert),
    `<!-- written by \`${GENERATE_COMMAND}\` from src/monitoring/alerts.ts; edit there -->`,
    `| severity | threshold | for |`,
    `|---|---|---|`,
    `| \`${alert.severity}\` | \`${alert.comparison} ${alert.threshold}\` | \`${alert.for}\` |`,
    '',
    '```promql',
    alertExpression(alert),
    '```',
    blockEnd(alert),
  ].join('\n');
}

/** Replaces every alert's generated block in the runbook; fails when a block is missing. */
export function spliceRunbook(markdown: string, alerts: readonly AlertSpec[] = ALERTS): string {
  return alerts.reduce((text, alert) => {
    const start = text.indexOf(blockStart(alert));
    const end = text.indexOf(blockEnd(alert));
    if (start < 0 || end < start) {
      throw new Error(
        `docs/runbooks.md has no generated block for ${alert.name}: add the lines\n${blockStart(alert)}\n${blockEnd(alert)}`,
      );
    }
    return text.slice(0, start) + alertFactsBlock(alert) + text.slice(end + blockEnd(alert).length);
  }, markdown);
}
