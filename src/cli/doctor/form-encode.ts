// Bitrix24 sends form bodies encoded by PHP's http_build_query: nested keys in brackets, brackets
// percent-encoded, spaces as +. The self-test deliveries are built the same way.

export type FormValue = string | number | FormObject;
export interface FormObject {
  [key: string]: FormValue | undefined;
}

/** PHP `urlencode`: RFC 3986 reserved characters encoded, and a space as `+`. */
export function phpUrlencode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** PHP `http_build_query` for nested objects (undefined values are left out, as PHP leaves out null). */
export function httpBuildQuery(data: FormObject, prefix?: string): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue;
    const name = prefix === undefined ? key : `${prefix}[${key}]`;
    if (typeof value === 'object') {
      const nested = httpBuildQuery(value, name);
      if (nested) parts.push(nested);
    } else {
      parts.push(`${phpUrlencode(name)}=${phpUrlencode(String(value))}`);
    }
  }
  return parts.join('&');
}
