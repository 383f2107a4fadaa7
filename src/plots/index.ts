export type { PlotlyFigure, PlotlyTrace } from './types';
export { rocFigure, type RocFigureOptions } from './roc';
export { trainingCurvesFigure, type CurveSeries, type TrainingCurvesOptions } from './curves';
export { figuresHtml, writeFiguresHtml } from './html';
