// A small checker for the collector's own config schemas (test/stack/fixtures/otelcol-config-schema.json):
// every key must be one the component's config struct has (the collector refuses unknown keys at start-up),
// and every value must have the struct field's type.
export interface SchemaNode {
  type: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'any';
  format?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode;
  items?: SchemaNode;
}

/** Go's time.ParseDuration syntax: 1s, 500ms, 1h30m, 0. */
const DURATION = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/;

export function schemaProblems(value: unknown, schema: SchemaNode, at: string): string[] {
  if (schema.type === 'any' || value === null) return [];
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value))
        return [`${at}: expected a mapping, got ${JSON.stringify(value)}`];
      const problems: string[] = [];
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        const childSchema = schema.properties?.[key] ?? schema.additionalProperties;
        if (!childSchema) {
          problems.push(
            `${at}.${key}: unknown key (known: ${Object.keys(schema.properties ?? {})
              .sort()
              .join(', ')})`,
          );
        } else {
          problems.push(...schemaProblems(child, childSchema, `${at}.${key}`));
        }
      }
      return problems;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected a list`];
      return value.flatMap((item, index) =>
        schema.items ? schemaProblems(item, schema.items, `${at}[${index}]`) : [],
      );
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string, got ${JSON.stringify(value)}`];
      return schema.format === 'duration' && !DURATION.test(value) ? [`${at}: "${value}" is not a Go duration`] : [];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${at}: expected an integer, got ${JSON.stringify(value)}`];
    case 'number':
      return typeof value === 'number' ? [] : [`${at}: expected a number, got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: expected true or false, got ${JSON.stringify(value)}`];
  }
}
