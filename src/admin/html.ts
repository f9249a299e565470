import { createHash } from 'node:crypto';

/** Text for an HTML element or a quoted attribute: markup, quotes and control characters made inert. */
export function escapeHtml(value: unknown): string {
  return (
    String(value ?? '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
      // Control characters (other than tab and newline) shown as their code, never passed to the browser.
      .replace(
        /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g,
        (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
      )
  );
}

/** A tagged template whose interpolations are escaped unless they are `Raw` (already-built markup). */
export class Raw {
  constructor(readonly html: string) {}
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((value, index) => {
    out += render(value) + strings[index + 1]!;
  });
  return new Raw(out);
}

function render(value: unknown): string {
  if (value instanceof Raw) return value.html;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(value);
}

// One stylesheet inline in every page, allowed by its hash (no 'unsafe-inline'); no style attributes anywhere.
const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--warn:#9a6700;--fail:#cf222e;--line:#8884}
body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:0 1rem 3rem}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem;border-bottom:1px solid var(--line)}
h1{font-size:1.3rem}h2{font-size:1.15rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
.scroll{overflow-x:auto}
.ok{color:var(--ok)}.warn{color:var(--warn)}.fail{color:var(--fail)}
pre{white-space:pre-wrap;word-break:break-all;background:#8881;padding:.5rem;max-height:30rem;overflow:auto}
button{font:inherit;padding:.45rem .9rem;margin:.2rem 0;cursor:pointer;min-height:2.5rem}
form.inline{display:inline}
input[type=password]{font:inherit;padding:.4rem;width:100%;max-width:24rem}
.group{border:1px solid var(--line);border-radius:.4rem;padding:.3rem 1rem;margin:.8rem 0}
.muted{opacity:.75}.error{color:var(--fail);font-weight:600}
svg{max-width:100%;height:auto}
a:focus,button:focus,input:focus{outline:3px solid #0969da;outline-offset:2px}
`;

export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** Every console answer: nothing from another host, no script at all, no framing, no referrer. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src ${STYLE_HASH}`,
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function page(title: string, body: Raw): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · bitrix24-webhook-guard</title>
<style>${STYLE}</style>
</head>
<body>
${body.html}
</body>
</html>
`;
}
