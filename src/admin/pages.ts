import type Router from '@koa/router';
import type { Context } from 'koa';
import type { QuarantinedDelivery, StoredEvent } from '../store/types';
import { WHY, type ReplayItem } from '../recover/replay';
import { redeliverAction, replayAction, validIds } from './actions';
import { statusDeps } from './api';
import { fillBuckets, refusalChart } from './chart';
import type { AdminDeps } from './deps';
import { caller, clientAddress, cookieIsSecure, csrfHolds, type Caller } from './guard';
import { html, page, type Raw } from './html';
import { wordsFor, type DiagnosisWords } from './runbook-words';
import { CSRF_FIELD, SESSION_COOKIE, type Session, type Sessions } from './session';
import type { SignInLimiter } from './sign-in-limiter';
import { readStatus } from './status';
import { adminBody } from './body';

const HOUR_MS = 3_600_000;
const BUCKET_MS = 5 * 60_000;
const SHOWN_PER_GROUP = 20;

/** The console's pages: server-rendered HTML, plain forms (no script), every change behind the CSRF field. */
export function mountPages(
  router: Router,
  deps: AdminDeps,
  sessions: Sessions,
  limiter: SignInLimiter,
  words: Map<string, DiagnosisWords>,
): void {
  const render = (ctx: Context, title: string, body: Raw, status = 200) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page(title, body);
  };
  const sessionOf = (ctx: Context): Session | undefined => {
    const who = caller(ctx, sessions);
    return who?.kind === 'session' ? who.session : undefined;
  };
  /** The session of a form post, or an answer already given (sign-in page, or 403 for a failed CSRF check). */
  const changeAllowed = (ctx: Context): Session | undefined => {
    const session = sessionOf(ctx);
    if (!session) {
      render(ctx, 'Sign in', signInForm('Your session has ended: sign in again.'), 401);
      return undefined;
    }
    if (!csrfHolds(ctx, { kind: 'session', session } satisfies Caller, sessions)) {
      render(
        ctx,
        'Refused',
        html`<main><h1>Refused</h1><p class="error">This form is stale or came from another site. <a href="/admin">Back to the console</a>.</p></main>`,
        403,
      );
      return undefined;
    }
    return session;
  };
  const client = (ctx: Context) => clientAddress(ctx, deps.admin.trustProxy);

  router.get('/admin', async (ctx) => {
    const session = sessionOf(ctx);
    if (!session) return render(ctx, 'Sign in', signInForm());
    render(ctx, 'Console', await overview(deps, session, words));
  });

  router.post('/admin/session', async (ctx) => {
    const from = client(ctx);
    const wait = limiter.retryAfterSeconds(from);
    if (wait > 0) {
      deps.metrics?.recordSignInFailure();
      deps.logger.warn('admin sign-in refused: too many failed attempts', { client: from, retry_after_seconds: wait });
      ctx.set('Retry-After', String(wait));
      return render(ctx, 'Sign in', signInForm(`Too many failed attempts: wait ${wait} seconds.`), 429);
    }
    const body = adminBody(ctx);
    const offered = typeof body.token === 'string' ? body.token : '';
    if (ctx.get('sec-fetch-site') === 'cross-site' || !sessions.tokenMatches(offered)) {
      limiter.recordFailure(from);
      deps.metrics?.recordSignInFailure();
      deps.logger.warn('admin sign-in failed', { client: from });
      return render(ctx, 'Sign in', signInForm('Wrong admin token.'), 401);
    }
    const { cookieValue, session } = sessions.create();
    const secure = cookieIsSecure(ctx, deps.admin.trustProxy);
    // Koa believes X-Forwarded-Proto only with app.proxy, which would also trust X-Forwarded-Host for the whole
    // app; the console decides itself (TRUST_PROXY) and tells the cookie jar the connection is secure.
    if (secure) ctx.cookies.secure = true;
    ctx.cookies.set(SESSION_COOKIE, cookieValue, {
      httpOnly: true,
      sameSite: 'strict',
      secure,
      path: '/admin',
      expires: new Date(session.expiresAt),
      overwrite: true,
    });
    deps.metrics?.recordAction('sign_in');
    deps.logger.info('admin action: signed in', {
      action: 'sign_in',
      client: from,
      session_expires_at: new Date(session.expiresAt).toISOString(),
    });
    ctx.status = 303;
    ctx.redirect('/admin');
  });

  router.post('/admin/sign-out', async (ctx) => {
    if (!changeAllowed(ctx)) return;
    ctx.cookies.set(SESSION_COOKIE, '', {
      httpOnly: true,
      sameSite: 'strict',
      path: '/admin',
      expires: new Date(0),
      overwrite: true,
    });
    deps.metrics?.recordAction('sign_out');
    deps.logger.info('admin action: signed out', { action: 'sign_out', client: client(ctx) });
    ctx.status = 303;
    ctx.redirect('/admin');
  });

  router.get('/admin/quarantine/:id', async (ctx) => {
    const session = sessionOf(ctx);
    if (!session) return render(ctx, 'Sign in', signInForm(), 401);
    const row = /^[0-9A-Za-z_-]{1,64}$/.test(ctx.params.id!)
      ? await deps.store.getQuarantined(ctx.params.id!)
      : undefined;
    if (!row)
      return render(
        ctx,
        'Not found',
        html`<main><h1>Not found</h1><p>No quarantined delivery with that id. <a href="/admin">Back</a></p></main>`,
        404,
      );
    render(ctx, `Delivery ${row.id}`, deliveryDetail(row, session, words));
  });

  router.post('/admin/replay', async (ctx) => {
    const session = changeAllowed(ctx);
    if (!session) return;
    const body = adminBody(ctx);
    const apply = body.apply === '1';
    const ids = body.ids === undefined ? undefined : validIds(Array.isArray(body.ids) ? body.ids : [body.ids]);
    const selected =
      ids ?? (typeof body.diagnosis === 'string' ? await idsOfGroup(deps, body.diagnosis, body.reason) : undefined);
    const result = await replayAction(deps, apply, selected, client(ctx));
    render(ctx, apply ? 'Replayed' : 'Dry run', replayResult(result.apply, result.released, result.skipped, session));
  });

  router.post('/admin/redeliver', async (ctx) => {
    if (!changeAllowed(ctx)) return;
    const body = adminBody(ctx);
    const ids =
      body.all_dead === '1'
        ? 'all-dead'
        : validIds(Array.isArray(body.ids) ? body.ids : body.ids === undefined ? [] : [body.ids]);
    if (ids === undefined || (ids !== 'all-dead' && ids.length === 0)) {
      return render(
        ctx,
        'Redeliver',
        html`<main><h1>Redeliver</h1><p class="error">No dead letter chosen.</p><p><a href="/admin">Back to the console</a></p></main>`,
        400,
      );
    }
    const reset = await redeliverAction(deps, ids, client(ctx));
    render(
      ctx,
      'Redelivered',
      html`<main><h1>Redelivered</h1><p role="status">${reset.length} dead letter${reset.length === 1 ? '' : 's'} reset to pending; the forwarder sends ${reset.length === 1 ? 'it' : 'them'} again now.</p>
<ul>${reset.map((id) => html`<li><code>${id}</code></li>`)}</ul><p><a href="/admin#dead-letters">Back to the console</a></p></main>`,
    );
  });
}

async function idsOfGroup(deps: AdminDeps, diagnosis: string, reason: unknown): Promise<string[]> {
  const filter = {
    released: false,
    limit: 1000,
    ...(diagnosis === '' ? {} : { diagnosis }),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
  const rows = await deps.store.listQuarantine(filter);
  return rows.filter((row) => (diagnosis === '' ? row.diagnosis === null : true)).map((row) => row.id);
}

function csrfField(session: Session): Raw {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${session.csrf}">`;
}

function signInForm(error?: string): Raw {
  return html`<main>
<h1>bitrix24-webhook-guard console</h1>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/admin/session">
<p><label for="token">Admin token (the value of ADMIN_TOKEN)</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
</main>`;
}

async function overview(deps: AdminDeps, session: Session, words: Map<string, DiagnosisWords>): Promise<Raw> {
  const status = await readStatus(statusDeps(deps));
  const from = new Date(Math.floor((Date.now() - HOUR_MS) / BUCKET_MS) * BUCKET_MS + BUCKET_MS);
  const groups = await deps.store.quarantineGroups();
  const [perBucket, dead, recent] = await Promise.all([
    deps.store.quarantinedPerBucket(from, BUCKET_MS),
    deps.store.listEvents({ status: 'dead', limit: 100 }),
    Promise.all(
      groups.map(async (group) => ({
        group,
        rows: await deps.store.listQuarantine({
          released: false,
          reason: group.reason,
          ...(group.diagnosis !== null ? { diagnosis: group.diagnosis } : {}),
          limit: SHOWN_PER_GROUP,
        }),
      })),
    ),
  ]);
  const unreleased = groups.reduce((sum, group) => sum + group.count, 0);
  return html`<header><h1>bitrix24-webhook-guard console</h1>
<form class="inline" method="post" action="/admin/sign-out">${csrfField(session)}<button type="submit">Sign out</button></form></header>
<main>
<section aria-labelledby="health"><h2 id="health">Health</h2>
<div class="scroll"><table><caption class="muted">The doctor checklist of this running service</caption>
<thead><tr><th scope="col">Check</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead><tbody>
${status.checks.map((check) => html`<tr><td>${check.check}</td><td class="${check.status}">${check.status}</td><td>${check.detail}${check.likely ? html`<br><span class="muted">likely: ${check.likely}</span>` : ''}</td></tr>`)}
</tbody></table></div>
<h3>Tokens</h3>
${status.tokens.length === 0 ? html`<p class="fail">No webhook token is configured: every delivery is refused and quarantined.</p>` : html`<ul>${status.tokens.map((token) => html`<li>${token.name} <code>${token.fingerprint}</code></li>`)}</ul>`}
<h3>Store and forwarding</h3>
<p>${status.store.where}: ${status.store.quarantine.unreleased} quarantined awaiting replay (${status.store.quarantine.total} kept), events ${status.store.events.pending} pending, ${status.store.events.delivered} delivered, ${status.store.events.dead} dead. Automatic replay at start-up is ${status.auto_replay ? 'on' : 'off'}.</p>
<p>Forwarding: ${status.forwarding.enabled ? html`${Object.entries(status.forwarding.upstreams).map(([name, url]) => html`${name === '*' ? 'every token' : name} → <code>${url}</code> `)} (${status.forwarding.format})` : 'off (events stay in the store)'}</p>
<h3>Last accepted delivery</h3>
${
  status.last_accepted.length === 0
    ? html`<p>None yet.</p>`
    : html`<div class="scroll"><table><thead><tr><th scope="col">Token name</th><th scope="col">Portal</th><th scope="col">Received</th></tr></thead><tbody>
${status.last_accepted.map((row) => html`<tr><td>${row.webhook}</td><td>${row.portal ?? '-'}</td><td><time datetime="${row.received_at}">${row.received_at}</time></td></tr>`)}</tbody></table></div>`
}
</section>

<section aria-labelledby="refusals"><h2 id="refusals">Refusals in the last hour</h2>
${refusalChart(fillBuckets(perBucket, from, BUCKET_MS, HOUR_MS / BUCKET_MS), BUCKET_MS / 60_000)}
</section>

<section aria-labelledby="quarantine"><h2 id="quarantine">Quarantine: ${unreleased} awaiting replay</h2>
${unreleased === 0 ? html`<p>Nothing is waiting.</p>` : html`<form method="post" action="/admin/replay">${csrfField(session)}<button type="submit">Dry run: replay all</button></form>`}
${recent.map(({ group, rows }) => {
  const { cause, advice } = wordsFor(words, group.diagnosis);
  return html`<div class="group"><h3>${group.diagnosis ?? 'no diagnosis'} <span class="muted">(${group.reason}, ${group.count})</span></h3>
<p><strong>Cause:</strong> ${cause}</p><p><strong>What to do:</strong> ${advice}</p>
<form method="post" action="/admin/replay">${csrfField(session)}<input type="hidden" name="diagnosis" value="${group.diagnosis ?? ''}"><input type="hidden" name="reason" value="${group.reason}"><button type="submit">Dry run: replay these ${group.count}</button></form>
<div class="scroll"><table><thead><tr><th scope="col">Received</th><th scope="col">Event</th><th scope="col">Portal</th><th scope="col">Delivery</th></tr></thead><tbody>
${rows.map((row) => html`<tr><td>${row.receivedAt.toISOString()}</td><td>${row.event ?? '-'}</td><td>${row.domain ?? '-'}</td><td><a href="/admin/quarantine/${encodeURIComponent(row.id)}">${row.id}</a></td></tr>`)}
</tbody></table></div>${group.count > rows.length ? html`<p class="muted">${group.count - rows.length} more not shown.</p>` : ''}</div>`;
})}
</section>

<section aria-labelledby="dead-letters"><h2 id="dead-letters">Dead letters: ${status.forwarding.dead}</h2>
${
  dead.length === 0
    ? html`<p>None.</p>`
    : html`<form method="post" action="/admin/redeliver">${csrfField(session)}<input type="hidden" name="all_dead" value="1"><button type="submit">Redeliver all dead letters</button></form>
<div class="scroll"><table><thead><tr><th scope="col">Event</th><th scope="col">Token name</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col"></th></tr></thead><tbody>
${dead.map((event) => deadRow(event, session))}</tbody></table></div>`
}
</section>
</main>`;
}

function deadRow(event: StoredEvent, session: Session): Raw {
  return html`<tr><td><code>${event.id}</code><br>${event.event ?? '-'} · ${event.domain ?? '-'}</td><td>${event.webhook}</td><td>${event.attempts}</td><td>${event.lastError ?? '-'}</td>
<td><form method="post" action="/admin/redeliver">${csrfField(session)}<input type="hidden" name="ids" value="${event.id}"><button type="submit" aria-label="Redeliver ${event.id}">Redeliver</button></form></td></tr>`;
}

function replayResult(apply: boolean, released: ReplayItem[], skipped: ReplayItem[], session: Session): Raw {
  const would = released.filter((item) => item.outcome === 'would_release');
  const rows = [...released, ...skipped];
  return html`<main><h1>${apply ? 'Replayed' : 'Dry run'}</h1>
<p role="status">${apply ? `${released.length} released as accepted events; they are forwarded like any other.` : `${would.length} would be released.`} ${skipped.length} stay.</p>
${!apply && would.length > 0 ? html`<form method="post" action="/admin/replay">${csrfField(session)}<input type="hidden" name="apply" value="1">${would.map((item) => html`<input type="hidden" name="ids" value="${item.id}">`)}<button type="submit">Apply: release ${would.length}</button></form>` : ''}
<div class="scroll"><table><thead><tr><th scope="col">Delivery</th><th scope="col">Refused as</th><th scope="col">Outcome</th><th scope="col">Why</th></tr></thead><tbody>
${rows.map((item) => html`<tr><td><a href="/admin/quarantine/${encodeURIComponent(item.id)}">${item.id}</a></td><td>${item.reason} · ${item.diagnosis ?? '-'}</td><td>${item.outcome}${item.event_id ? html` → <code>${item.event_id}</code>` : ''}</td><td>${item.why ?? WHY[item.outcome]}</td></tr>`)}
</tbody></table></div>
<p><a href="/admin">Back to the console</a></p></main>`;
}

function deliveryDetail(row: QuarantinedDelivery, session: Session, words: Map<string, DiagnosisWords>): Raw {
  const { cause, advice } = wordsFor(words, row.diagnosis);
  return html`<main><p><a href="/admin">Back to the console</a></p><h1>Quarantined delivery <code>${row.id}</code></h1>
<dl>
<dt>Received</dt><dd>${row.receivedAt.toISOString()}</dd>
<dt>Answered</dt><dd>${row.status} ${row.reason}</dd>
<dt>Diagnosis</dt><dd>${row.diagnosis ?? '-'}: ${cause} <br><strong>What to do:</strong> ${advice}</dd>
<dt>Trace id</dt><dd><code>${row.traceId ?? '-'}</code></dd>
<dt>Event</dt><dd>${row.event ?? '-'} · portal ${row.domain ?? '-'} · member ${row.memberId ?? '-'}</dd>
<dt>Headers</dt><dd>${row.headerNames.join(', ')}${Object.entries(row.headers).map(([name, value]) => html`<br><code>${name}: ${value}</code>`)}</dd>
<dt>Tokens seen</dt><dd>${row.candidates.length === 0 ? 'none' : row.candidates.map((candidate) => html`${candidate.location} (sha256 ${candidate.digest.slice(0, 8)}…) `)}</dd>
<dt>Released</dt><dd>${row.releasedEventId ? `as event ${row.releasedEventId}${row.releaseNote ? ` (${row.releaseNote})` : ''}` : 'no'}</dd>
</dl>
${row.releasedEventId ? '' : html`<form method="post" action="/admin/replay">${csrfField(session)}<input type="hidden" name="ids" value="${row.id}"><button type="submit">Dry run: replay this delivery</button></form>`}
<h2>Body${row.bodyTruncated ? ' (cut at BODY_LIMIT)' : ''}, tokens replaced</h2>
<pre>${row.body ?? '(none)'}</pre></main>`;
}
