// Builders for the few Grafana panel shapes the dashboard uses (dashboard JSON model, schemaVersion 39).
import { prometheusRef, tempoRef, type DatasourceRef } from './constants';

export interface GridPos { x: number; y: number; w: number; h: number }

export interface PromTarget {
  refId: string;
  datasource: DatasourceRef;
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
  exemplar: boolean;
  editorMode: 'code';
}

export interface ThresholdStep { color: string; value: number | null }

export interface PanelOptions {
  title: string;
  description?: string;
  unit?: string;
  thresholds?: ThresholdStep[];
  stack?: boolean;
  min?: number;
  max?: number;
}

export function promTarget(refId: string, expr: string, legendFormat: string, extra: { exemplar?: boolean; instant?: boolean } = {}): PromTarget {
  return {
    refId,
    datasource: prometheusRef,
    expr,
    legendFormat,
    range: !extra.instant,
    instant: Boolean(extra.instant),
    exemplar: Boolean(extra.exemplar),
    editorMode: 'code',
  };
}

const defaultThresholds: ThresholdStep[] = [{ color: 'green', value: null }];

function fieldDefaults(options: PanelOptions, custom: Record<string, unknown>) {
  return {
    unit: options.unit ?? 'short',
    ...(options.min === undefined ? {} : { min: options.min }),
    ...(options.max === undefined ? {} : { max: options.max }),
    thresholds: { mode: 'absolute', steps: options.thresholds ?? defaultThresholds },
    color: { mode: options.thresholds ? 'thresholds' : 'palette-classic' },
    custom,
  };
}

export function timeseries(gridPos: GridPos, options: PanelOptions, targets: PromTarget[]) {
  return {
    type: 'timeseries',
    title: options.title,
    description: options.description ?? '',
    gridPos,
    datasource: prometheusRef,
    targets,
    fieldConfig: {
      defaults: fieldDefaults(options, {
        drawStyle: 'line',
        lineWidth: 1,
        fillOpacity: options.stack ? 30 : 10,
        showPoints: 'never',
        spanNulls: false,
        stacking: { mode: options.stack ? 'normal' : 'none', group: 'A' },
        // Draws the alert threshold as a dashed line on the graph.
        thresholdsStyle: { mode: options.thresholds ? 'dashed' : 'off' },
      }),
      overrides: [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

export function stat(gridPos: GridPos, options: PanelOptions, targets: PromTarget[]) {
  return {
    type: 'stat',
    title: options.title,
    description: options.description ?? '',
    gridPos,
    datasource: prometheusRef,
    targets,
    fieldConfig: { defaults: fieldDefaults(options, {}), overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'value_and_name',
    },
  };
}

export function traceSearchTable(gridPos: GridPos, title: string, description: string, traceQl: string) {
  return {
    type: 'table',
    title,
    description,
    gridPos,
    datasource: tempoRef,
    targets: [{ refId: 'A', datasource: tempoRef, queryType: 'traceql', query: traceQl, limit: 20, tableType: 'traces' }],
    fieldConfig: { defaults: {}, overrides: [] },
    options: { showHeader: true },
  };
}

export function row(y: number, title: string) {
  return { type: 'row', title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] };
}
