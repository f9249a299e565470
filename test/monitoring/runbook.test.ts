import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { RUNBOOK_BASE_URL } from '../../src/monitoring/constants';
import { fingerprint } from '../../src/verify/fingerprint';
import type { OtlpReceiver } from '../support/otlp-receiver';
import { spawnService, type RunningService } from '../support/spawn-service';
import { traceReceiver } from '../support/trace-receiver';
import { BODY, deliver, TOKEN } from './support/deliveries';
import { dashboardOnDisk, grafanaRulesOnDisk, prometheusRulesOnDisk } from './support/generated-expressions';
import { repoPath } from './support/tools';

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
const githubSlug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function sections(markdown: string): Map<string, string> {
  const result = new Map<string, string>();
  const parts = markdown.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    result.set(githubSlug(part.slice(0, newline)), part.slice(newline + 1));
  }
  return result;
}

describe('docs/runbooks.md', () => {
  const markdown = readFileSync(repoPath('docs/runbooks.md'), 'utf8');
  const bySlug = sections(markdown);
  const runbookUrls = [
    ...prometheusRulesOnDisk().map((rule) => rule.annotations.runbook_url!),
    ...grafanaRulesOnDisk().map((rule) => rule.annotations.runbook_url!),
    ...dashboardOnDisk().panels.flatMap((panel) => (panel.links ?? []).map((link) => link.url)),
  ];

  it('is the single base of every runbook_url', () => {
    // Each alert's url twice (Prometheus and Grafana form), and the dashboard's panel links besides.
    expect(runbookUrls.length, 'the urls checked').to.be.greaterThan(2 * prometheusRulesOnDisk().length);
    expect(prometheusRulesOnDisk(), 'the alerts').to.not.be.empty;
    for (const url of runbookUrls) expect(url.split('#')[0]).to.equal(RUNBOOK_BASE_URL);
  });

  it('has a section for every anchor a runbook_url or dashboard link points to', () => {
    const anchors = new Set(runbookUrls.map((url) => url.split('#')[1]!));
    // One per alert, and the diagnoses the "why deliveries are refused" panel links to.
    expect([...anchors].sort()).to.deep.equal(
      [...prometheusRulesOnDisk().map((rule) => githubSlug(rule.alert)), 'diagnoses-why-a-delivery-was-refused'].sort(),
    );
    for (const anchor of anchors) expect([...bySlug.keys()], anchor).to.include(anchor);
  });

  it('says for every alert what it means, how to confirm it, its causes and the fix', () => {
    const rules = prometheusRulesOnDisk();
    expect(rules, 'the alerts checked').to.not.be.empty;
    for (const rule of rules) {
      const section = bySlug.get(rule.annotations.runbook_url!.split('#')[1]!)!;
      for (const part of ['**What it means.**', '**Confirm.**', '**Causes', '**Fix.**'])
        expect(section, `${rule.alert}: ${part}`).to.include(part);
    }
  });

  it('maps all five known causes of "received: None" to what this service shows', () => {
    const section = bySlug.get('bitrixwebhooktokenmissingspike')!;
    const rows = section.split('\n').filter((line) => /^\| [1-5] \|/.test(line));
    expect(rows.map((row) => row.slice(2, 3))).to.deep.equal(['1', '2', '3', '4', '5']);
  });
});

/** The "N. Logs:" step of a section, up to the next numbered step or paragraph. */
function logStep(section: string): string {
  const start = section.search(/^\d\. Logs:/m);
  if (start < 0) throw new Error('no "N. Logs:" step');
  const rest = section.slice(start + 3);
  const end = rest.search(/\n(\d\. |\n)/);
  return end < 0 ? rest : rest.slice(0, end);
}
/** `"key":"value"` pairs the text quotes. */
const quotedPairs = (text: string) =>
  Object.fromEntries([...text.matchAll(/"([a-z_]+)":"([^"]*)"/g)].map((match) => [match[1]!, match[2]!]));
/** Back-ticked snake_case names (log field names; single words are values such as `warn`). */
const quotedFields = (text: string) => [...text.matchAll(/`([a-z]+(?:_[a-z]+)+)`/g)].map((match) => match[1]!);

describe('docs/runbooks.md against what the running service prints', function () {
  this.timeout(60_000);
  const markdown = readFileSync(repoPath('docs/runbooks.md'), 'utf8');
  const bySlug = sections(markdown);
  const MISMATCHED_TOKEN = '0000000000aaaaaaaaaa1111111111bb';
  let service: RunningService;
  const warn: Record<'missing' | 'repeated' | 'mismatched', Record<string, unknown>> = {} as never;

  let receiver: OtlpReceiver | undefined;

  before(async () => {
    const traces = await traceReceiver();
    receiver = traces.receiver;
    service = await spawnService({ env: { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN, ...traces.env } });
    const repeated = `${BODY.withoutToken}&auth%5Bapplication_token%5D=${TOKEN}&auth%5Bapplication_token%5D=${TOKEN}`;
    const deliveries = { missing: BODY.missing, repeated, mismatched: BODY.mismatched } as const;
    for (const [name, body] of Object.entries(deliveries) as Array<[keyof typeof deliveries, string]>) {
      const before = service.logs.length;
      expect(await deliver(service.url, { body }), name).to.equal(name === 'mismatched' ? 403 : 401);
      warn[name] = await service.waitForLog((line) => service.logs.indexOf(line) >= before && line.level === 'warn');
    }
  });

  after(async () => {
    await service?.stop();
    await receiver?.stop();
  });

  it('shows, as its example warn line, exactly the fields a missing-token delivery prints, with the same values', () => {
    const example = /`(\{"level":"warn".*?\})`/.exec(markdown)?.[1];
    expect(example, 'the example warn line in the introduction').to.be.a('string');
    const shown = JSON.parse(example!) as Record<string, unknown>;
    const real = warn.missing;
    expect(Object.keys(shown).sort()).to.deep.equal(
      Object.keys(real)
        .filter((key) => key !== 'timestamp')
        .sort(),
    );
    for (const [key, value] of Object.entries(shown)) {
      if (value === '…' || key === 'header_names') continue;
      expect(real[key], key).to.deep.equal(value);
    }
  });

  it('names, for missing tokens, only fields and values the warn line really has', () => {
    const step = logStep(bySlug.get('bitrixwebhooktokenmissingspike')!);
    expect(quotedPairs(step)).to.deep.equal({ result: 'missing', received: 'none' });
    for (const [key, value] of Object.entries(quotedPairs(step))) expect(warn.missing[key], key).to.equal(value);
    const fields = quotedFields(step);
    expect(fields).to.deep.equal([
      'content_type',
      'header_names',
      'sources_checked',
      'locations_checked',
      'not_a_token',
    ]);
    for (const field of fields) expect(warn.missing, field).to.have.property(field);
  });

  it('quotes the not_a_token entry a repeated token really produces', () => {
    const section = bySlug.get('bitrixwebhooktokenmissingspike')!;
    const quoted = /`(\{"location":[^`]*\})`/.exec(section)?.[1];
    expect(JSON.parse(quoted!)).to.deep.equal({ location: 'auth[application_token]', reason: 'repeated' });
    expect(warn.repeated.not_a_token).to.deep.equal([JSON.parse(quoted!)]);
    expect(warn.repeated).to.deep.include({ result: 'missing', received: 'none' });
  });

  it('says, for mismatched tokens, what the line shows: result mismatched, received = the fingerprint', () => {
    const step = logStep(bySlug.get('bitrixwebhooktokenmismatchspike')!);
    expect(quotedPairs(step)).to.deep.equal({ result: 'mismatched' });
    expect(step).to.include('`received` is the fingerprint of the token that came in');
    expect(warn.mismatched).to.deep.include({ result: 'mismatched', received: fingerprint(MISMATCHED_TOKEN) });
  });
});
