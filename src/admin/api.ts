import type Router from '@koa/router';
import type { Context } from 'koa';
import { jsonText } from '../store/json-text';
import { EVENT_STATUSES, type EventStatus, type StoredEvent } from '../store/types';
import { redeliverAction, replayAction, validIds } from './actions';
import type { AdminDeps } from './deps';
import { caller, clientAddress, csrfHolds, UNAUTHORIZED } from './guard';
import type { Sessions } from './session';
import { readStatus } from './status';
import { adminBody } from './body';

const BAD = (detail: string) => ({ status: 'rejected', reason: 'bad_request', detail });

/** The console's JSON API (docs/admin-api.openapi.json): Bearer admin token, or the session cookie plus CSRF. */
export function mountApi(router: Router, deps: AdminDeps, sessions: Sessions): void {
  const authorized = (ctx: Context, change: boolean): boolean => {
    const who = caller(ctx, sessions);
    if (!who) {
      ctx.status = 401;
      ctx.body = UNAUTHORIZED;
      return false;
    }
    if (change && !csrfHolds(ctx, who, sessions)) {
      ctx.status = 403;
      ctx.body = { status: 'rejected', reason: 'csrf' };
      return false;
    }
    return true;
  };
  const answer = (ctx: Context, value: unknown, status = 200) => {
    ctx.status = status;
    ctx.type = 'application/json';
    ctx.body = jsonText(value);
  };

  router.get('/admin/api/status', async (ctx) => {
    if (!authorized(ctx, false)) return;
    answer(ctx, await readStatus(statusDeps(deps)));
  });

  router.get('/admin/api/quarantine', async (ctx) => {
    if (!authorized(ctx, false)) return;
    const limit = limitOf(ctx.query.limit);
    if (limit === undefined) return answer(ctx, BAD('limit must be a whole number from 1 to 1000'), 400);
    const filter = { ...text(ctx.query.reason, 'reason'), ...text(ctx.query.diagnosis, 'diagnosis') };
    const [rows, total] = await Promise.all([
      deps.store.listQuarantine({ ...filter, limit }),
      deps.store.countQuarantine(filter),
    ]);
    answer(ctx, {
      items: rows.map((row) => ({
        id: row.id,
        received_at: row.receivedAt.toISOString(),
        status: row.status,
        reason: row.reason,
        diagnosis: row.diagnosis,
        event: row.event ?? null,
        portal_domain: row.domain ?? null,
        released: row.releasedEventId !== null,
      })),
      total,
    });
  });

  router.get('/admin/api/quarantine/:id', async (ctx) => {
    if (!authorized(ctx, false)) return;
    const row = /^[0-9A-Za-z_-]{1,64}$/.test(ctx.params.id!)
      ? await deps.store.getQuarantined(ctx.params.id!)
      : undefined;
    if (!row) return answer(ctx, { status: 'not_found' }, 404);
    answer(ctx, row);
  });

  router.post('/admin/api/quarantine/replay', async (ctx) => {
    if (!authorized(ctx, true)) return;
    const body = adminBody(ctx);
    if (typeof body.apply !== 'boolean') return answer(ctx, BAD('apply must be true or false'), 400);
    const ids = body.ids === undefined ? undefined : validIds(body.ids);
    if (body.ids !== undefined && ids === undefined)
      return answer(ctx, BAD('ids must be an array of at most 1000 delivery ids'), 400);
    answer(ctx, await replayAction(deps, body.apply, ids, clientAddress(ctx, deps.admin.trustProxy)));
  });

  router.get('/admin/api/events', async (ctx) => {
    if (!authorized(ctx, false)) return;
    const limit = limitOf(ctx.query.limit);
    if (limit === undefined) return answer(ctx, BAD('limit must be a whole number from 1 to 1000'), 400);
    const status = ctx.query.status;
    if (status !== undefined && !(EVENT_STATUSES as readonly unknown[]).includes(status))
      return answer(ctx, BAD('status must be pending, delivered or dead'), 400);
    const filter = status === undefined ? {} : { status: status as EventStatus };
    const [rows, total] = await Promise.all([
      deps.store.listEvents({ ...filter, limit }),
      deps.store.countEvents(filter),
    ]);
    answer(ctx, { items: rows.map(eventItem), total });
  });

  router.post('/admin/api/events/redeliver', async (ctx) => {
    if (!authorized(ctx, true)) return;
    const body = adminBody(ctx);
    const ids = body.ids === undefined ? undefined : validIds(body.ids);
    if (body.all_dead === true && body.ids === undefined)
      return answer(ctx, {
        reset: (await redeliverAction(deps, 'all-dead', clientAddress(ctx, deps.admin.trustProxy))).length,
      });
    if (ids === undefined || body.all_dead !== undefined)
      return answer(ctx, BAD('give {"ids": [...]} or {"all_dead": true}'), 400);
    answer(ctx, { reset: (await redeliverAction(deps, ids, clientAddress(ctx, deps.admin.trustProxy))).length });
  });
}

export function statusDeps(deps: AdminDeps) {
  return {
    config: deps.config,
    store: deps.store,
    storeDescription: deps.storeDescription,
    forwardConfig: deps.forwardConfig,
    autoReplay: deps.autoReplay,
    telemetryDescription: deps.telemetryDescription,
  };
}

/** An event as the API lists it: its facts and forwarding state (its data is in the store, scrubbed). */
export function eventItem(event: StoredEvent) {
  return {
    id: event.id,
    received_at: event.receivedAt.toISOString(),
    webhook: event.webhook,
    event: event.event ?? null,
    portal_domain: event.domain ?? null,
    status: event.status,
    attempts: event.attempts,
    last_error: event.lastError,
    delivered_at: event.deliveredAt?.toISOString() ?? null,
    quarantine_id: event.quarantineId,
    trace_id: event.traceId,
  };
}

function limitOf(value: unknown): number | undefined {
  if (value === undefined) return 100;
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value)) return undefined;
  const limit = Number(value);
  return limit >= 1 && limit <= 1000 ? limit : undefined;
}

function text(value: unknown, key: 'reason' | 'diagnosis'): Record<string, string> {
  // Any short string filters (an unknown value matches nothing); a repeated parameter is not a filter.
  return typeof value === 'string' && value.length <= 100 ? { [key]: value } : {};
}
