// A strict JSON reader for file headers. JSON.parse keeps the last of two
// equal keys and turns `1.0` into an integer; this reader refuses duplicate
// keys (naming the key and its object) and keeps non-integer number literals
// apart (as JsonFloat), so a header check can insist on integers the way
// serde's `usize` does. Nesting is limited so hostile input cannot exhaust
// the stack. Errors are StrictJsonError with a position.

/** A number written with a fraction or exponent (`1.0`, `1e3`): not an integer literal. */
export class JsonFloat {
  constructor(readonly value: number, readonly text: string) {}
}

/** A JSON value as read by {@link parseStrictJson}. */
export type StrictJsonValue = null | boolean | number | string | JsonFloat | StrictJsonValue[] | { [key: string]: StrictJsonValue };

/** Syntax error, duplicate key or nesting too deep; `message` says which and where. */
export class StrictJsonError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
    this.name = 'StrictJsonError';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parses `text` as one JSON value (whitespace around it allowed).
 * @param maxDepth deepest nesting of arrays/objects accepted
 * @throws {StrictJsonError} on invalid JSON, a duplicate key in any object, or deeper nesting
 */
export function parseStrictJson(text: string, maxDepth = 64): StrictJsonValue {
  let i = 0;
  const fail = (msg: string, at = i): never => { throw new StrictJsonError(msg, at); };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    let escaped = false;
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) { escaped = true; i += 2; continue; }
      i++;
      if (c === 0x22) break;
    }
    const raw = text.slice(start, i);
    if (!escaped) return raw.slice(1, -1);
    try {
      return JSON.parse(raw) as string;
    } catch {
      return fail('bad escape in string', start);
    }
  };
  const value = (depth: number): StrictJsonValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      const start = i;
      i++;
      const obj: { [key: string]: StrictJsonValue } = Object.create(null);
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const keyAt = i;
        const key = str();
        if (Object.prototype.hasOwnProperty.call(obj, key)) {
          fail(`duplicate key ${JSON.stringify(key)} in the object starting at position ${start}`, keyAt);
        }
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      const arr: StrictJsonValue[] = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail(i >= text.length ? 'unexpected end of input' : `unexpected character ${JSON.stringify(text[i])}`);
    i += m[0].length;
    const v = Number(m[0]);
    return m[1] !== undefined || m[2] !== undefined ? new JsonFloat(v, m[0]) : v;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return v;
}
