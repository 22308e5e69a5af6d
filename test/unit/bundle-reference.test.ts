// Image reference and --change parsing (pure).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyChanges, words } from '../../bundle-tools/lib/changes';
import { parseReference, parseTaggedReference } from '../../bundle-tools/lib/reference';

const D = `sha256:${'a'.repeat(64)}`;

test('parses names, tags and digests', () => {
  assert.equal(parseReference('busybox'), { name: 'busybox' });
  assert.equal(parseTaggedReference('busybox'), { name: 'busybox', tag: 'latest' });
  assert.equal(parseReference('busybox:1.36'), { name: 'busybox', tag: '1.36' });
  assert.equal(parseReference('localhost:5000/a/b:v_1'), { name: 'localhost:5000/a/b', tag: 'v_1' });
  assert.equal(parseReference('localhost:5000/a/b'), { name: 'localhost:5000/a/b' });
  assert.equal(parseReference(`x/y@${D}`), { name: 'x/y', digest: D });
  assert.equal(parseReference(`x:t@${D}`), { name: 'x', tag: 't', digest: D });
});

test('rejects bad names, tags and digests with a clear message', () => {
  assert.throws(() => parseReference('BusyBox'), /bad image name "BusyBox"/);
  assert.throws(() => parseReference('busybox:'), /bad tag ""/);
  assert.throws(() => parseReference('busybox:-x'), /bad tag "-x"/);
  assert.throws(() => parseReference(`busybox:${'a'.repeat(129)}`), /bad tag/);
  assert.throws(() => parseReference('busybox@sha256:xyz'), /bad digest/);
  assert.throws(() => parseReference(''), /bad image name/);
  assert.throws(() => parseReference('a//b'), /bad image name/);
  assert.throws(() => parseTaggedReference(`x@${D}`), /a tag is needed/);
});

test('--change edits a copy of the config', () => {
  const base = { Env: ['PATH=/bin', 'A=1'], Cmd: ['old'] };
  const out = applyChanges(base, [
    'CMD ["/bin/sh", "-c", "echo hi"]',
    'ENTRYPOINT /init --flag',
    'ENV A=2 B="two words"',
    'ENV C some value',
    'WORKDIR /srv',
    'USER nobody:nogroup',
    'EXPOSE 80 53/udp',
    'LABEL org.x="y z" k=v',
    'VOLUME ["/data", "/logs"]',
    'stopsignal SIGINT',
  ]);
  assert.equal(out.Cmd, ['/bin/sh', '-c', 'echo hi']);
  assert.equal(out.Entrypoint, ['/bin/sh', '-c', '/init --flag']);
  assert.equal(out.Env, ['PATH=/bin', 'A=2', 'B=two words', 'C=some value']);
  assert.is(out.WorkingDir, '/srv');
  assert.is(out.User, 'nobody:nogroup');
  assert.equal(out.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.equal(out.Labels, { 'org.x': 'y z', k: 'v' });
  assert.equal(out.Volumes, { '/data': {}, '/logs': {} });
  assert.is(out.StopSignal, 'SIGINT');
  assert.equal(base, { Env: ['PATH=/bin', 'A=1'], Cmd: ['old'] });
});

test('--change refuses what it does not understand', () => {
  assert.throws(() => applyChanges({}, ['RUN make']), /unsupported instruction "RUN"/);
  assert.throws(() => applyChanges({}, ['CMD']), /needs an argument/);
  assert.throws(() => applyChanges({}, ['CMD ["a", 1]']), /JSON array of strings/);
  assert.throws(() => applyChanges({}, ['WORKDIR rel']), /absolute/);
  assert.throws(() => applyChanges({}, ['EXPOSE http']), /bad port/);
  assert.throws(() => applyChanges({}, ['LABEL novalue']), /KEY=VALUE/);
  assert.throws(() => applyChanges({}, ['ENV A="open']), /unterminated quote/);
});

test('shell-like words', () => {
  assert.equal(words(`a "b c" 'd e' f\\ g`), ['a', 'b c', 'd e', 'f g']);
  assert.equal(words('  '), []);
  assert.equal(words('""'), ['']);
});

test.run();
