/**
 * Whether log records are exported over OpenTelemetry: startTelemetry says so, the logger reads it. A module of
 * its own because the telemetry set-up must not load winston before its instrumentation is in place.
 */
let exported = false;

export function setLogRecordsExported(value: boolean): void {
  exported = value;
}

export function logRecordsExported(): boolean {
  return exported;
}
