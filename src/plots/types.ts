/** A plotly.js figure as plain JSON: what `Plotly.newPlot(div, data, layout)` takes. */
export interface PlotlyFigure {
  data: PlotlyTrace[];
  layout: Record<string, unknown>;
}

export type PlotlyTrace = Record<string, unknown>;
