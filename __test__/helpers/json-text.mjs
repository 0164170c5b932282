// Where a top-level member's value sits inside JSON text, to the byte, so a
// test can check that a rewrite changed that value's token and nothing else.

const WS = ' \t\n\r';

/**
 * The span of top-level member `name` of the JSON object in `text`:
 * `{ start, end, isString, value }` (`value` decoded when it is a string), or
 * null when the object has no such member. As JSON.parse, a repeated name
 * means its last occurrence. Throws when `text` is not JSON or not an object.
 */
export function memberSpan(text, name) {
  const doc = JSON.parse(text);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new TypeError('not a JSON object');
  let i = 0;
  const skipWs = () => {
    while (i < text.length && WS.includes(text[i])) i++;
  };
  const skipString = () => {
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    if (text[i] === '"') return skipString();
    if (text[i] !== '{' && text[i] !== '[') {
      while (i < text.length && !',}]'.includes(text[i]) && !WS.includes(text[i])) i++;
      return;
    }
    let depth = 0;
    do {
      if (text[i] === '"') {
        skipString();
        continue;
      }
      if (text[i] === '{' || text[i] === '[') depth++;
      else if (text[i] === '}' || text[i] === ']') depth--;
      i++;
    } while (depth > 0);
  };

  let found = null;
  skipWs();
  i++; // {
  for (;;) {
    skipWs();
    if (text[i] === '}') break;
    const keyStart = i;
    skipString();
    const key = JSON.parse(text.slice(keyStart, i));
    skipWs();
    i++; // :
    skipWs();
    const start = i;
    skipValue();
    if (key === name) {
      const raw = text.slice(start, i);
      const isString = raw.startsWith('"');
      found = { start, end: i, isString, value: isString ? JSON.parse(raw) : undefined };
    }
    skipWs();
    if (text[i] === ',') i++;
  }
  return found;
}

/** `text` with member `name`'s value token replaced by `replacement` (raw text). */
export function spliceMember(text, name, replacement) {
  const span = memberSpan(text, name);
  if (!span) throw new Error(`no member ${name}`);
  return text.slice(0, span.start) + replacement + text.slice(span.end);
}
