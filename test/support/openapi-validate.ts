// A small validator for the JSON Schema subset docs/admin-api.openapi.json uses (OpenAPI 3.1 = JSON Schema
// 2020-12): $ref, type (with null), const, enum, required, properties, additionalProperties, items, minimum,
// maximum, maxItems, pattern, format date-time, oneOf. It throws on a keyword it does not know, so the document
// cannot grow beyond what is checked.
import type { JsonRecord } from './ndjson';

type Schema = JsonRecord;

const KNOWN = new Set([
  '$ref',
  'type',
  'const',
  'enum',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'minimum',
  'maximum',
  'maxItems',
  'pattern',
  'format',
  'oneOf',
  'description',
  'default',
]);

export function validate(document: Schema, schema: Schema, value: unknown, at = '$'): string[] {
  for (const key of Object.keys(schema))
    if (!KNOWN.has(key)) throw new Error(`validator: unknown keyword ${key} at ${at}`);
  if (schema.$ref) {
    const target = (schema.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce<JsonRecord | undefined>((node, part) => node?.[part], document);
    if (!target) throw new Error(`validator: unresolved ${schema.$ref}`);
    return validate(document, target, value, at);
  }
  const errors: string[] = [];
  if (schema.oneOf) {
    const passing = (schema.oneOf as Schema[]).filter(
      (option) => validate(document, option, value, at).length === 0,
    ).length;
    if (passing !== 1) errors.push(`${at}: matches ${passing} of oneOf, not exactly 1`);
  }
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const))
    errors.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !(schema.enum as unknown[]).includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if (schema.type) {
    const types: string[] = [schema.type].flat();
    if (!types.some((type) => typeOf(value, type)))
      return [...errors, `${at}: ${JSON.stringify(value)?.slice(0, 80)} is not ${types.join('|')}`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value))
      errors.push(`${at}: does not match ${schema.pattern}`);
    if (schema.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value))
      errors.push(`${at}: not a date-time`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      errors.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items)
      for (const [index, item] of value.entries())
        errors.push(...validate(document, schema.items, item, `${at}[${index}]`));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) errors.push(`${at}: missing ${key}`);
    for (const [key, item] of Object.entries(object)) {
      const property = schema.properties?.[key];
      if (property) errors.push(...validate(document, property, item, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unexpected property ${key}`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        errors.push(...validate(document, schema.additionalProperties, item, `${at}.${key}`));
    }
  }
  return errors;
}

function typeOf(value: unknown, type: string): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return typeof value === type;
  }
}
