// Human-readable memory sizes ("256m", "1.5g", "64MiB") as runc's --memory flags take them:
// binary multiples, an optional i and b, case-insensitive.

const MULTIPLIERS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

const SIZE_RE = /^(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?$/i;

/** Bytes, or undefined when `text` is not a size (negative numbers are not sizes). */
export function parseRamSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const bytes = Math.floor(Number(m[1]) * (MULTIPLIERS[(m[2] ?? '').toLowerCase()] ?? 1));
  // Beyond 2^53 the value would silently lose bytes; no real limit is that large.
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
