/** An accepted, verified event, without any credential from its `auth` block. */
export interface AcceptedEvent {
  /** Name of the configured token that matched. */
  webhook: string;
  event: string | undefined;
  eventHandlerId: string | undefined;
  /** Portal's queue time (Unix seconds, as sent; not signed). */
  ts: string | undefined;
  portal: { domain: string | undefined; memberId: string | undefined };
  data: unknown;
  receivedAt: Date;
}

/**
 * Where every accepted event leaves the request path. Storing or forwarding events is a sink; the
 * verification code never changes for it. A sink that throws makes the delivery fail (500), so the
 * portal's own log shows the failure instead of a 200 for an event that was not kept.
 */
export type EventSink = (event: AcceptedEvent) => void | Promise<void>;

/** The default: the service's job ends at verification and telemetry. */
export const discardingSink: EventSink = () => {};
