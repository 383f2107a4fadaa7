export { Cluster, type ConnectOptions, type StartOptions, type TaskSpec, type OutputMode, type ResourceListener, type EngineEventListener } from './cluster';
export { BalancedView, DirectView, EngineView, type TaskOptions } from './views';
export { TaskHandle, GroupHandle, RemoteTaskError, TaskGroupError, type TaskStatus, type Progress, type StreamListener, type ReportListener } from './handles';
