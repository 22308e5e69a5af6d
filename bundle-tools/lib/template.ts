// A small subset of Go's text/template for --format, enough for `docker inspect`-style use:
// {{.Field.Sub}}, {{.}}, {{json .Field}} and {{join .List ", "}}; text outside braces as is.
import { TrunError } from '../../runtime/errors';

type Part = { text: string } | { fn: 'value' | 'json' | 'join'; path: string[]; sep: string };

export function compileTemplate(src: string): (value: unknown) => string {
  const parts: Part[] = [];
  const re = /\{\{\s*(.*?)\s*\}\}/g;
  let last = 0;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    if (m.index > last) parts.push({ text: src.slice(last, m.index) });
    parts.push(action(m[1]!, src));
    last = m.index + m[0].length;
  }
  if (src.slice(last).includes('{{')) throw new TrunError('EINVAL', `--format "${src}": unclosed action`);
  parts.push({ text: src.slice(last) });
  return (value) => parts.map((p) => ('text' in p ? p.text : render(p, value))).join('');
}

function action(body: string, src: string): Part {
  const m = /^(?:(json|join)\s+)?(\.[\w.]*)(?:\s+"((?:[^"\\]|\\.)*)")?$/.exec(body);
  if (!m || (m[1] === 'join') !== (m[3] !== undefined)) {
    throw new TrunError('EINVAL', `--format "${src}": unsupported action "{{${body}}}" (use {{.Field}}, {{json .Field}} or {{join .List ", "}})`);
  }
  const path = m[2] === '.' ? [] : m[2]!.slice(1).split('.');
  if (path.some((p) => p === '')) throw new TrunError('EINVAL', `--format "${src}": bad field "${m[2]}"`);
  return { fn: (m[1] as 'json' | 'join' | undefined) ?? 'value', path, sep: m[3] === undefined ? '' : JSON.parse(`"${m[3]}"`) as string };
}

function render(p: Exclude<Part, { text: string }>, root: unknown): string {
  let v: unknown = root;
  for (const key of p.path) {
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  }
  if (p.fn === 'json') return JSON.stringify(v ?? null);
  if (p.fn === 'join') return Array.isArray(v) ? v.map((x) => scalar(x)).join(p.sep) : scalar(v);
  return scalar(v);
}

function scalar(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
