import { trace, type Context as OtelContext } from '@opentelemetry/api';
import { LOG_CONTEXT, type Logger } from '../telemetry/logger';
import { botTokens } from '../verify/bot-token';
import { fingerprint } from '../verify/fingerprint';
import { ATTR } from '../vocabulary/names';
import { REFUSAL_LOG_INTERVAL_MS } from './limits';
import { rateLimitedWarn } from './rate-limited-log';
import type { RefusalRecorder } from './refusal';
import type { VerificationRun } from './verify-request';

export interface AcceptedChatBotEvent {
  body: unknown;
  run: VerificationRun;
  webhook: string;
  event: string | undefined;
  serverContext: OtelContext | undefined;
}

/**
 * A chat-bot event whose bot token (data[BOT][<id>]…) differs from the accepted auth[application_token]:
 * accepted on the outer token, as it should be, but an application that checks the bot's token would
 * refuse it. Said once a second at most, with fingerprints only.
 */
export function createBotTokenWarning(
  logger: Logger,
  setup: RefusalRecorder['setup'],
): (accepted: AcceptedChatBotEvent) => void {
  const warn = rateLimitedWarn(logger, REFUSAL_LOG_INTERVAL_MS);
  return ({ body, run, webhook, event, serverContext }) => {
    const outer = run.extractions.find((extraction) => extraction.token !== undefined)?.token;
    const differing = botTokens(body).find(({ token }) => token !== outer);
    if (!differing) return;
    if (serverContext) trace.getSpan(serverContext)?.setAttribute(ATTR.botTokenDiffers, true);
    warn("chat-bot event accepted on auth[application_token]; the bot's own token differs from it", {
      webhook,
      event,
      bot_token_location: differing.location,
      bot_token_fingerprint: fingerprint(differing.token),
      bot_token_configured: setup.isConfiguredToken?.(differing.token) ?? false,
      [LOG_CONTEXT]: serverContext,
    });
  };
}
