/**
 * Study journal: every ask/report/tell as an fsync'd JSON line, and the resume
 * that rebuilds the Study from it (finished trials kept, in-flight ones back to pending).
 */
import type { StudyOptions } from './types';
import { Study } from './study';

export interface ResumeOptions {
  /** raise the trial budget of the resumed study */
  trials?: number;
  maxParallel?: number;
}

export class StudyJournal {
  readonly path: string;
  readonly study: Study;
  /** problems found while reading (e.g. a torn last line), each naming file and line */
  readonly warnings: string[] = [];

  private constructor(path: string, study: Study) {
    this.path = path;
    this.study = study;
  }

  /** a new journal at `path` (which must not hold a journal already) for a new study */
  static open(_path: string, _options: StudyOptions): StudyJournal {
    throw new Error('StudyJournal.open: not implemented yet');
  }

  /** rebuilds the study written to `path` and keeps appending to it */
  static resume(_path: string, _options?: ResumeOptions): StudyJournal {
    throw new Error('StudyJournal.resume: not implemented yet');
  }

  close(): void {
    throw new Error('not implemented');
  }
}
