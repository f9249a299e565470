import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { RUNBOOK_BASE_URL } from '../../src/monitoring/constants';
import { dashboardOnDisk, grafanaRulesOnDisk, prometheusRulesOnDisk } from './support/generated-expressions';
import { repoPath } from './support/tools';

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
const githubSlug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

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
    for (const url of runbookUrls) expect(url.split('#')[0]).to.equal(RUNBOOK_BASE_URL);
  });

  it('has a section for every anchor a runbook_url or dashboard link points to', () => {
    const anchors = new Set(runbookUrls.map((url) => url.split('#')[1]!));
    expect(anchors.size).to.equal(prometheusRulesOnDisk().length);
    for (const anchor of anchors) expect([...bySlug.keys()], anchor).to.include(anchor);
  });

  it('says for every alert what it means, how to confirm it, its causes and the fix', () => {
    for (const rule of prometheusRulesOnDisk()) {
      const section = bySlug.get(rule.annotations.runbook_url!.split('#')[1]!)!;
      for (const part of ['**What it means.**', '**Confirm.**', '**Causes', '**Fix.**']) expect(section, `${rule.alert}: ${part}`).to.include(part);
    }
  });

  it('maps all five known causes of "received: None" to what this service shows', () => {
    const section = bySlug.get('bitrixwebhooktokenmissingspike')!;
    const rows = section.split('\n').filter((line) => /^\| [1-5] \|/.test(line));
    expect(rows.map((row) => row.slice(2, 3))).to.deep.equal(['1', '2', '3', '4', '5']);
    for (const field of ['result', 'received', 'sources_checked', 'header_names', 'content_type', 'trace_id']) expect(section + markdown).to.include(field);
  });
});
