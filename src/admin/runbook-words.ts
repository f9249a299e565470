import { readFileSync } from 'node:fs';
import path from 'node:path';

// The console says what docs/runbooks.md says, read from the file at start-up (the image ships it), so the
// two cannot drift apart. Without the file, the console names the section to read instead.

export interface DiagnosisWords {
  /** What the diagnosis means (the runbook's "What it means."). */
  cause: string;
  /** What to do (the runbook's "Fix."). */
  advice: string;
}

export const RUNBOOK_FILE = path.resolve(__dirname, '../../../docs/runbooks.md');

export function loadDiagnosisWords(file = RUNBOOK_FILE): Map<string, DiagnosisWords> {
  try {
    return parseDiagnosisWords(readFileSync(file, 'utf8'));
  } catch {
    return new Map();
  }
}

export function parseDiagnosisWords(markdown: string): Map<string, DiagnosisWords> {
  const words = new Map<string, DiagnosisWords>();
  const sections = markdown.split(/^### Diagnosis: `([a-z0-9_]+)`\s*$/m);
  for (let index = 1; index + 1 < sections.length; index += 2) {
    const text = sections[index + 1]!.split(/^#{2,3} /m)[0]!
      .replace(/\s+/g, ' ')
      .trim();
    const cause =
      between(text, '**What it means.**', '**Confirm.**') ?? between(text, '**What it means.**', '**Fix.**');
    const advice = between(text, '**Fix.**', undefined);
    if (cause !== undefined) words.set(sections[index]!, { cause: plain(cause), advice: plain(advice ?? '') });
  }
  return words;
}

function between(text: string, start: string, end: string | undefined): string | undefined {
  const from = text.indexOf(start);
  if (from < 0) return undefined;
  const rest = text.slice(from + start.length);
  const to = end === undefined ? -1 : rest.indexOf(end);
  return (to < 0 ? rest : rest.slice(0, to)).trim();
}

function plain(markdown: string): string {
  return markdown
    .replace(/\*\*/g, '')
    .replace(/`/g, '')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .trim();
}

export function wordsFor(words: Map<string, DiagnosisWords>, diagnosis: string | null): DiagnosisWords {
  return (
    words.get(diagnosis ?? 'unknown') ?? {
      cause: `See docs/runbooks.md, section "Diagnosis: ${diagnosis ?? 'unknown'}".`,
      advice: 'Fix the cause, then replay.',
    }
  );
}
