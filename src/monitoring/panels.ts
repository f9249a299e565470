// Builders for the few Grafana panel shapes the dashboard uses (dashboard JSON model, schemaVersion 39),
// typed with Grafana's own published types (@grafana/schema, the version of the pinned Grafana image), so
// tsc rejects a field Grafana does not have or a value of the wrong type. Types only: nothing is loaded.
import type { FieldColorModeId, GridPos, Panel, RowPanel, Threshold, ThresholdsMode } from '@grafana/schema';
import { prometheusRef, tempoRef, type DatasourceRef } from './constants';

export type { GridPos };
/** A panel before the dashboard numbers it. */
export type UnnumberedPanel = Omit<Panel, 'id'>;
export type UnnumberedRow = Omit<RowPanel, 'id'>;

// Grafana's string enums are declarations only; these are their values, checked against the enum types.
const ABSOLUTE = 'absolute' as ThresholdsMode.Absolute;
const COLOR_BY_THRESHOLDS = 'thresholds' as FieldColorModeId.Thresholds;
const COLOR_BY_PALETTE = 'palette-classic' as FieldColorModeId.PaletteClassic;

/** A Prometheus query of a panel (a type alias, so it is the plain record Grafana's `targets` holds). */
export type PromTarget = {
  refId: string;
  datasource: DatasourceRef;
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
  exemplar: boolean;
  editorMode: 'code';
};

export type ThresholdStep = Threshold;

export interface PanelOptions {
  title: string;
  description?: string;
  unit?: string;
  thresholds?: ThresholdStep[];
  stack?: boolean;
  min?: number;
  max?: number;
}

export function promTarget(
  refId: string,
  expr: string,
  legendFormat: string,
  extra: { exemplar?: boolean; instant?: boolean } = {},
): PromTarget {
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
    thresholds: { mode: ABSOLUTE, steps: options.thresholds ?? defaultThresholds },
    color: { mode: options.thresholds ? COLOR_BY_THRESHOLDS : COLOR_BY_PALETTE },
    custom,
  };
}

export function timeseries(gridPos: GridPos, options: PanelOptions, targets: PromTarget[]): UnnumberedPanel {
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

export function stat(gridPos: GridPos, options: PanelOptions, targets: PromTarget[]): UnnumberedPanel {
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

export function traceSearchTable(
  gridPos: GridPos,
  title: string,
  description: string,
  traceQl: string,
): UnnumberedPanel {
  return {
    type: 'table',
    title,
    description,
    gridPos,
    datasource: tempoRef,
    targets: [
      { refId: 'A', datasource: tempoRef, queryType: 'traceql', query: traceQl, limit: 20, tableType: 'traces' },
    ],
    fieldConfig: { defaults: {}, overrides: [] },
    options: { showHeader: true },
  };
}

export function row(y: number, title: string): UnnumberedRow {
  return { type: 'row', title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] };
}
