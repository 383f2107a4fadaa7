/** A data file (or one dataset in it) is unusable; the message names the file and what is wrong. */
export class DataFileError extends Error {
  readonly file: string;
  readonly dataset?: string;

  constructor(file: string, what: string, dataset?: string) {
    super(dataset ? `${file}: dataset '${dataset}' ${what}` : `${file}: ${what}`);
    this.name = 'DataFileError';
    this.file = file;
    this.dataset = dataset;
  }
}

/** Bad options passed to a data function (not tied to one file). */
export class DataOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataOptionsError';
  }
}
