/** hpcdl hpo: search spaces, samplers, pruners, the Study state machine and its journal. */
export type * from './types';
export { Study } from './study';
export type { StudyClock } from './study';
export { StudyJournal } from './journal';
export type { ResumeOptions } from './journal';
