/**
 * Runs notebook cells with tslab's TypeScript executor, and turns its
 * console-based reporting into structured outcomes: the value of the last
 * expression (sent as execute_result instead of tslab's stdout print) and
 * errors with ename/evalue/traceback (sent as an `error` message instead of
 * a stderr print).
 */
import { format } from 'node:util';
import type * as TS from 'typescript';
import { normalizeCellSource } from './cell-source';
import { loadTslab, type CompletionInfo, type Converter, type ConvertResult, type ConverterSet, type TslabExecutor } from './tslab';

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** Node's message when SIGINT breaks synchronous code run with `breakOnSigint` (tslab does). */
const SYNC_SIGINT_MESSAGE = 'Script execution was interrupted by `SIGINT`';
const INTERRUPTED: CellError = {
  ename: 'KernelInterrupted',
  evalue: 'Execution interrupted by the user',
  traceback: ['KernelInterrupted: Execution interrupted by the user'],
};

/** True for the error of a cell stopped by an interrupt. */
export function isInterruptError(error: CellError): boolean {
  return error.ename === INTERRUPTED.ename;
}

export type CellOutcome =
  | { ok: true; hasValue: boolean; value: unknown; warnings: string[] }
  | { ok: false; error: CellError };

/** tslab reports type errors with this format string (executor.printDiagnostics). */
const DIAGNOSTIC_FORMAT = '%s%d:%d - %s';

export class CellRunner {
  private readonly executor: TslabExecutor;
  private readonly converters: LazyConverters;
  private diagnostics: string[] = [];
  private thrown: unknown[] = [];
  private lastExpressionVar: string | undefined;
  private interrupted = false;
  /** Set when the last run was stopped by SIGINT inside synchronous code. */
  interruptedSynchronously = false;

  constructor(rootDir: string) {
    this.converters = new LazyConverters((name) => {
      this.lastExpressionVar = name;
    });
    this.executor = loadTslab().executor.createExecutor(rootDir, this.converters, {
      log: (...args) => {
        process.stdout.write(format(...args) + '\n');
      },
      error: (...args) => this.recordError(args),
    });
  }

  /** Compiles the TypeScript checker up front so the first cell is not slow. */
  warmUp(): void {
    void this.converters.node;
  }

  async run(code: string): Promise<CellOutcome> {
    this.diagnostics = [];
    this.thrown = [];
    this.lastExpressionVar = undefined;
    this.interrupted = false;
    this.interruptedSynchronously = false;
    const ok = await this.executor.execute(code);
    if (!ok) return { ok: false, error: this.describeFailure() };
    // Interrupted, and the cell's work stopped by itself within the grace period.
    if (this.interrupted) return { ok: false, error: INTERRUPTED };
    const warnings = this.diagnostics;
    const name = this.lastExpressionVar;
    if (name === undefined || !(name in this.executor.locals)) {
      return { ok: true, hasValue: false, value: undefined, warnings };
    }
    const value = this.executor.locals[name];
    delete this.executor.locals[name];
    // Like tslab (and the Node REPL's habit of not echoing `undefined`), skip nullish values.
    return { ok: true, hasValue: value !== undefined && value !== null, value, warnings };
  }

  /** The running cell was interrupted: it fails with KernelInterrupted even if it then ends normally. */
  markInterrupted(): void {
    this.interrupted = true;
  }

  /** Aborts the awaited promise of the running cell (the cell fails with KernelInterrupted). */
  interrupt(): void {
    this.interrupted = true;
    this.executor.interrupt();
  }

  complete(code: string, cursor: number): CompletionInfo {
    return this.executor.complete(code, cursor);
  }

  inspect(code: string, cursor: number): string | null {
    const info = this.executor.inspect(code, cursor);
    if (!info) return null;
    return loadTslab().inspect.printQuickInfo(info);
  }

  isComplete(code: string): { status: 'complete' | 'incomplete'; indent?: string } {
    const result = loadTslab().converter.isCompleteCode(code);
    return result.completed ? { status: 'complete' } : { status: 'incomplete', indent: result.indent };
  }

  close(): void {
    this.executor.close();
  }

  private recordError(args: unknown[]): void {
    if (args[0] === DIAGNOSTIC_FORMAT) {
      this.diagnostics.push(format(...args));
    } else {
      this.thrown.push(args.length === 1 ? args[0] : format(...args));
    }
  }

  private describeFailure(): CellError {
    if (this.interrupted) return INTERRUPTED;
    if (this.diagnostics.length > 0) {
      return {
        ename: 'TypeScriptError',
        evalue: this.diagnostics.length === 1 ? this.diagnostics[0] : `${this.diagnostics.length} compile errors`,
        traceback: this.diagnostics,
      };
    }
    const error = this.thrown[0];
    if (error instanceof Error && error.message === SYNC_SIGINT_MESSAGE) {
      // While synchronous code runs, Node suspends process 'SIGINT' listeners,
      // so the kernel learns about this interrupt only here.
      this.interruptedSynchronously = true;
      return INTERRUPTED;
    }
    if (error instanceof Error) {
      return {
        ename: error.name,
        evalue: error.message,
        traceback: (error.stack ?? `${error.name}: ${error.message}`).split('\n'),
      };
    }
    const text = format('%o', error);
    return { ename: 'Thrown', evalue: text, traceback: [`Uncaught ${text}`] };
  }
}

/**
 * Converts a cell after the rewrites of cell-source.ts. Compile errors are
 * reported from a conversion that kept the user's columns.
 */
function convertNormalized(converter: Converter, ts: typeof TS, prevDecl: string, src: string): ConvertResult {
  const normalized = normalizeCellSource(ts, src);
  const result = converter.convert(prevDecl, normalized.source);
  if (result.diagnostics.length === 0 || normalized.sameColumns === normalized.source) return result;
  const located = converter.convert(prevDecl, normalized.sameColumns);
  return located.diagnostics.length > 0 ? located : result;
}

/**
 * tslab's ConverterSet, with converters created on first use and the node
 * converter wrapped so the last expression's variable name is reported to us
 * and hidden from tslab's executor (which would print the value to stdout).
 */
class LazyConverters implements ConverterSet {
  private nodeConverter: Converter | null = null;
  private browserConverter: Converter | null = null;

  constructor(private readonly onLastExpression: (name: string | undefined) => void) {}

  get node(): Converter {
    if (!this.nodeConverter) {
      const tslab = loadTslab();
      const inner = tslab.converter.createConverter({ isJS: false, isBrowser: false });
      const wrapped: Converter = Object.create(inner);
      wrapped.convert = (prevDecl, src) => {
        const result = convertNormalized(inner, tslab.typescript as unknown as typeof TS, prevDecl, src);
        this.onLastExpression(result.lastExpressionVar);
        return { ...result, lastExpressionVar: undefined };
      };
      this.nodeConverter = wrapped;
    }
    return this.nodeConverter;
  }

  get browser(): Converter {
    if (!this.browserConverter) {
      this.browserConverter = loadTslab().converter.createConverter({ isJS: false, isBrowser: true });
    }
    return this.browserConverter;
  }

  close(): void {
    this.nodeConverter?.close();
    this.browserConverter?.close();
  }
}
