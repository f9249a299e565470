import { html, type Raw } from './html';

export interface Bucket {
  start: Date;
  count: number;
}

/**
 * Refused deliveries per bucket as an inline SVG bar chart, with a title and a description for screen
 * readers and each bar's count in its own <title> (a tooltip). Pure markup: the page needs no script.
 */
export function refusalChart(buckets: readonly Bucket[], bucketMinutes: number): Raw {
  const width = 600;
  const height = 140;
  const bottom = 20;
  const max = Math.max(1, ...buckets.map((bucket) => bucket.count));
  const barWidth = width / Math.max(1, buckets.length);
  const total = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
  const description = `${total} refused deliveries kept in the last hour, per ${bucketMinutes} minutes: ${buckets.map((bucket) => bucket.count).join(', ')}`;
  const bars = buckets.map((bucket, index) => {
    const barHeight = Math.round(((height - bottom - 10) * bucket.count) / max);
    const x = Math.round(index * barWidth + 2);
    const y = height - bottom - barHeight;
    const label = `${bucket.start.toISOString().slice(11, 16)} UTC: ${bucket.count}`;
    return html`<rect x="${x}" y="${y}" width="${Math.max(1, Math.round(barWidth - 4))}" height="${barHeight}" fill="#cf222e"><title>${label}</title></rect>`;
  });
  const first = buckets[0]?.start.toISOString().slice(11, 16) ?? '';
  const last = buckets.at(-1)?.start.toISOString().slice(11, 16) ?? '';
  return html`<svg role="img" aria-labelledby="refusals-title refusals-desc" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
<title id="refusals-title">Refusals in the last hour</title>
<desc id="refusals-desc">${description}</desc>
<line x1="0" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="currentColor" stroke-width="1"/>
${bars}
<text x="0" y="${height - 4}" font-size="12" fill="currentColor">${first} UTC</text>
<text x="${width}" y="${height - 4}" font-size="12" fill="currentColor" text-anchor="end">${last} UTC · max ${max}</text>
</svg>`;
}

/** `count` buckets of `bucketMs` ending now, zero where the store had none. */
export function fillBuckets(found: readonly Bucket[], from: Date, bucketMs: number, count: number): Bucket[] {
  const byStart = new Map(found.map((bucket) => [bucket.start.getTime(), bucket.count]));
  return Array.from({ length: count }, (_, index) => {
    const start = from.getTime() + index * bucketMs;
    return { start: new Date(start), count: byStart.get(start) ?? 0 };
  });
}
