import { ConfigError } from './errors';

/**
 * Strict JSON parsing that reports the line and column of a syntax error and
 * rejects duplicate keys (JSON.parse silently keeps the last one, which hides
 * a config mistake). The message names the source file.
 */
export function parseJsonStrict(text: string, source: string): unknown {
  const parser = new JsonParser(text, source);
  return parser.parseDocument();
}

class JsonParser {
  private pos = 0;

  constructor(private readonly text: string, private readonly source: string) {}

  parseDocument(): unknown {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.skipSpace();
    const value = this.parseValue();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected ${this.describeHere()} after the end of the JSON value`);
    return value;
  }

  private parseValue(): unknown {
    const ch = this.text[this.pos];
    if (ch === '{') return this.parseObject();
    if (ch === '[') return this.parseArray();
    if (ch === '"') return this.parseString();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.parseNumber();
    if (this.text.startsWith('true', this.pos)) return this.literal('true', true);
    if (this.text.startsWith('false', this.pos)) return this.literal('false', false);
    if (this.text.startsWith('null', this.pos)) return this.literal('null', null);
    if (ch === undefined) this.fail('unexpected end of file, expected a value');
    this.fail(`unexpected ${this.describeHere()}, expected a value`);
  }

  private literal<T>(word: string, value: T): T {
    this.pos += word.length;
    return value;
  }

  private parseObject(): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.pos++; // {
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.fail(`expected a "quoted" key, found ${this.describeHere()}`);
      const keyPos = this.pos;
      const key = this.parseString();
      if (Object.prototype.hasOwnProperty.call(result, key)) this.fail(`duplicate key "${key}"`, keyPos);
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail(`expected ':' after key "${key}", found ${this.describeHere()}`);
      this.pos++;
      this.skipSpace();
      Object.defineProperty(result, key, { value: this.parseValue(), enumerable: true, writable: true, configurable: true });
      this.skipSpace();
      const sep = this.text[this.pos];
      if (sep === ',') {
        this.pos++;
        this.skipSpace();
        if (this.text[this.pos] === '}') this.fail("trailing comma before '}'");
        continue;
      }
      if (sep === '}') {
        this.pos++;
        return result;
      }
      this.fail(`expected ',' or '}' after the value of "${key}", found ${this.describeHere()}`);
    }
  }

  private parseArray(): unknown[] {
    const result: unknown[] = [];
    this.pos++; // [
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.skipSpace();
      result.push(this.parseValue());
      this.skipSpace();
      const sep = this.text[this.pos];
      if (sep === ',') {
        this.pos++;
        this.skipSpace();
        if (this.text[this.pos] === ']') this.fail("trailing comma before ']'");
        continue;
      }
      if (sep === ']') {
        this.pos++;
        return result;
      }
      this.fail(`expected ',' or ']' in array, found ${this.describeHere()}`);
    }
  }

  private parseString(): string {
    const start = this.pos;
    this.pos++; // opening quote
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined) this.fail('unterminated string', start);
      if (ch === '"') break;
      if (ch === '\n') this.fail('unterminated string (newline inside quotes)', start);
      if (ch === '\\') this.pos++;
      this.pos++;
    }
    this.pos++; // closing quote
    const raw = this.text.slice(start, this.pos);
    try {
      return JSON.parse(raw) as string;
    } catch {
      this.fail('invalid escape or control character in string', start);
    }
  }

  private parseNumber(): number {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.pos));
    if (!match) this.fail(`invalid number at ${this.describeHere()}`);
    this.pos += match[0].length;
    return Number(match[0]);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos])) this.pos++;
  }

  private describeHere(): string {
    const ch = this.text[this.pos];
    return ch === undefined ? 'end of file' : `'${ch}'`;
  }

  private fail(what: string, at = this.pos): never {
    const { line, column } = lineAndColumn(this.text, at);
    throw ConfigError.single(this.source, '', `invalid JSON at line ${line}, column ${column}: ${what}`);
  }
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
