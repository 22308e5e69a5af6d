// One assertion for the library's errors: `fn` throws a TrunError with this code (any code when
// undefined) and a lower-case message matching `pattern`, without a trailing period.
import * as assert from 'uvu/assert';
import { TrunError, type ErrorCode } from '../../runtime/errors';

export function expectTrunError(fn: () => unknown, code: ErrorCode | undefined, pattern: RegExp): TrunError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, TrunError);
    const e = err as TrunError;
    if (code !== undefined) assert.is(e.code, code, e.message);
    assert.match(e.message, pattern);
    assert.not.match(e.message, /\.$/, 'no trailing period');
    return e;
  }
  throw new assert.Assertion({ message: `expected a ${code ?? 'TrunError'} matching ${pattern}`, generated: true, operator: 'throws', expects: pattern, actual: undefined });
}
