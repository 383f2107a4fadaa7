export type { PlotlyFigure, PlotlyTrace } from './types';
export { rocFigure, type RocFigureOptions } from './roc';
export { trainingCurvesFigure, type CurveSeries, type TrainingCurvesOptions } from './curves';
export { figuresHtml, writeFiguresHtml } from './html';
export { LiveFigure, LiveTable, ProgressBar, LiveOutput, displayFigure, figureBundle, PLOTLY_MIME, type FigureJson, type TableRow, type LiveOutputOptions, type LiveTableOptions, type ProgressBarOptions } from './live';
export { trialCurvesFigure, bestWorstFigure, scoreHistogramFigure, parallelCoordinatesFigure, rankTrials, rocComparisonFigure, type StudyFigureOptions, type RocComparisonCurve } from './study-figures';
