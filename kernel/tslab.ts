/**
 * Typed access to the parts of tslab 1.0.x that the hpcdl kernel reuses:
 * the TypeScript cell converter, the executor, completion/inspection and the
 * display bridge used by `tslab.newDisplay()`. Everything is loaded from the
 * tslab that hpcdl depends on, so cells that `import * as tslab from "tslab"`
 * get the same module instance as the kernel.
 */
import { createRequire } from 'node:module';

export interface TsDiagnostic {
  fileName?: string;
  start: { line: number; character: number };
  messageText: string;
}

export interface ConvertResult {
  output?: string;
  declOutput?: string;
  diagnostics: TsDiagnostic[];
  hasToplevelAwait?: boolean;
  lastExpressionVar?: string;
}

export interface Converter {
  convert(prevDecl: string, src: string): ConvertResult;
  close(): void;
}

export interface ConverterSet {
  readonly node: Converter;
  readonly browser: Converter;
  close(): void;
}

export interface CompletionInfo {
  start: number;
  end: number;
  candidates: string[];
}

export interface TslabExecutor {
  execute(src: string): Promise<boolean>;
  inspect(src: string, position: number): unknown;
  complete(src: string, position: number): CompletionInfo;
  locals: Record<string, unknown>;
  reset(): void;
  interrupt(): void;
  close(): void;
}

export interface ExecutorConsole {
  log(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface DisplayContent {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient?: { display_id?: string };
}

export type WriteDisplayData = (content: DisplayContent, update: boolean) => void;

interface TslabModules {
  converter: {
    createConverter(options: { isJS: boolean; isBrowser: boolean }): Converter;
    isCompleteCode(code: string): { completed: boolean; indent: string };
  };
  executor: {
    createExecutor(rootDir: string, convs: ConverterSet, console: ExecutorConsole): TslabExecutor;
  };
  inspect: { printQuickInfo(info: unknown): string };
  jupyter: { lastWriteDisplayData: WriteDisplayData | null };
  typescript: { version: string; sys: TypeScriptSys };
  version: string;
}

/** The subset of `ts.sys` the module overlay patches. */
export interface TypeScriptSys {
  fileExists(path: string): boolean;
  directoryExists(path: string): boolean;
  readFile(path: string, encoding?: string): string | undefined;
  realpath?(path: string): string;
  getDirectories(path: string): string[];
}

let cached: TslabModules | null = null;

export function loadTslab(): TslabModules {
  if (cached) return cached;
  const packageJsonPath = require.resolve('tslab/package.json');
  const tslabRequire = createRequire(packageJsonPath);
  const converterRequire = createRequire(tslabRequire.resolve('./dist/converter.js'));
  cached = {
    converter: tslabRequire('./dist/converter.js'),
    executor: tslabRequire('./dist/executor.js'),
    inspect: tslabRequire('./dist/inspect.js'),
    jupyter: tslabRequire('./dist/jupyter.js'),
    typescript: converterRequire('@tslab/typescript-for-tslab'),
    version: (tslabRequire('./package.json') as { version: string }).version,
  };
  return cached;
}

/** Loads the zeromq module tslab depends on (hpcdl does not depend on it directly). */
export function loadZeromq(): ZeromqModule {
  const tslabRequire = createRequire(require.resolve('tslab/package.json'));
  return tslabRequire('zeromq') as ZeromqModule;
}

export interface ZmqSocket extends AsyncIterable<Buffer[]> {
  bind(address: string): Promise<void>;
  send(frames: (string | Buffer)[]): Promise<void>;
  close(): void;
  linger: number;
}

export interface ZeromqModule {
  Router: new () => ZmqSocket;
  Publisher: new () => ZmqSocket;
  Reply: new () => ZmqSocket;
}
