// `trun ps` table filtering: the header and the lines whose PID column is one of the container's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { filterPsTable } from '../../runtime/commands/ps';

const EF = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         150       1  0 10:01 ?        00:00:00 sh -c sleep 1000 & wait
root         151     150  0 10:01 ?        00:00:00 sleep 1000
root        1500       1  0 10:02 ?        00:00:00 151 150 looks like a pid
`;

test('ps -ef: PID is the second column; PPID and CMD do not match', () => {
  const lines = EF.split('\n');
  assert.is(filterPsTable(EF, [150, 151]), `${[lines[0], lines[2], lines[3]].join('\n')}\n`);
  assert.is(filterPsTable(EF, []), `${EF.split('\n')[0]}\n`);
});

test('custom columns: PID found from the header', () => {
  const out = '  PPID   PID COMMAND\n     1   150 sh\n   150   151 sleep\n';
  assert.is(filterPsTable(out, [151]), '  PPID   PID COMMAND\n   150   151 sleep\n');
});

test('no PID column is an error', () => {
  assert.throws(() => filterPsTable('COMMAND\nsh\n', [1]), /couldn't find PID field in ps output/);
});

test.run();
