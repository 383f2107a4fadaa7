/** The web dashboard the controller serves: page, REST API, push channel, controls, /metrics. */
export { Dashboard, routeOf } from './server';
export type { ControlAvailability, DashboardFeed, DashboardSource, EngineRow, SearchSnapshot, SearchTrial, TaskChange } from './source';
