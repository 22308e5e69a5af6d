// config.json generation from an image config: command line, env, user resolution through the
// image's passwd/group, labels, mounts (pure). Mount flags: volumes-flags.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSpec, mergeEnv, STOP_SIGNAL_ANNOTATION, type ConfigOptions } from '../../bundle-tools/lib/config-gen';
import { resolveUser } from '../../bundle-tools/lib/user';
import { DOCKER_CAPABILITIES } from '../../runtime/defaults';
import type { ImageConfig } from '../../spec/types/image';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nuser:x:1000:1000::/home/user:/bin/sh\n';
const GROUP = 'root:x:0:\nwheel:x:10:user,www\nusers:x:100:user\nwww:x:33:\nuser:x:1000:\n';

function image(config: ImageConfig['config']): ImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config };
}

function gen(config: ImageConfig['config'], options: ConfigOptions = {}) {
  return generateSpec({ image: image(config), options, passwd: PASSWD, group: GROUP, callerEnv: { FROM_CALLER: 'yes' } });
}

test('args are Entrypoint + Cmd, with docker overrides', () => {
  const cfg = { Entrypoint: ['/entry'], Cmd: ['--default'] };
  assert.equal(gen(cfg).process!.args, ['/entry', '--default']);
  assert.equal(gen(cfg, { cmd: ['--other'] }).process!.args, ['/entry', '--other']);
  assert.equal(gen(cfg, { entrypoint: ['/bin/sh'] }).process!.args, ['/bin/sh']);
  assert.equal(gen(cfg, { args: ['/bin/true'] }).process!.args, ['/bin/true']);
  assert.throws(() => gen({}), /no command/);
});

test('env: image values, PATH default, overrides and caller passthrough', () => {
  const spec = gen({ Cmd: ['x'], Env: ['A=1', 'B=2'] }, { env: ['B=3', 'FROM_CALLER', 'NOT_SET', 'C=x=y'] });
  assert.equal(spec.process!.env, ['A=1', 'B=3', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_CALLER=yes', 'C=x=y', 'HOME=/root']);
  assert.equal(mergeEnv(['PATH=/x'], [], {}, true), ['PATH=/x', 'TERM=xterm']);
  assert.throws(() => mergeEnv([], ['=v'], {}, false), /invalid environment variable/);
});

test('user names resolve through passwd and group; groups listing the user are added', () => {
  assert.equal(resolveUser('user', PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [10, 100], home: '/home/user' });
  assert.equal(resolveUser('www:users', PASSWD, GROUP), { uid: 33, gid: 100, additionalGids: [], home: '/var/www' });
  assert.equal(resolveUser('4242', PASSWD, GROUP), { uid: 4242, gid: 0, additionalGids: [] });
  assert.equal(resolveUser('4242:7', PASSWD, GROUP), { uid: 4242, gid: 7, additionalGids: [] });
  assert.equal(resolveUser('', null, null), { uid: 0, gid: 0, additionalGids: [] });
  assert.throws(() => resolveUser('nobody', PASSWD, GROUP), /unable to find user "nobody"/);
  assert.throws(() => resolveUser('user:nogroup', PASSWD, GROUP), /unable to find group "nogroup"/);
  assert.throws(() => resolveUser('user', null, null), /unable to find user/);
  const spec = gen({ Cmd: ['x'], User: 'user' });
  assert.equal(spec.process!.user, { uid: 1000, gid: 1000, additionalGids: [10, 100] });
  assert.equal(gen({ Cmd: ['x'], User: 'user' }, { user: '0:0' }).process!.user, { uid: 0, gid: 0 });
});

test('cwd, hostname, read-only root, terminal, caps', () => {
  const spec = gen({ Cmd: ['x'], WorkingDir: '/srv' }, { hostname: 'box', readOnly: true, terminal: true });
  assert.is(spec.process!.cwd, '/srv');
  assert.is(spec.hostname, 'box');
  assert.equal(spec.root, { path: 'rootfs', readonly: true });
  assert.is(spec.process!.terminal, true);
  assert.ok(spec.process!.env!.includes('TERM=xterm'));
  assert.equal(spec.process!.capabilities!.bounding, DOCKER_CAPABILITIES);
  const plain = gen({ Cmd: ['x'] });
  assert.is(plain.process!.cwd, '/');
  assert.equal(plain.root, { path: 'rootfs', readonly: false });
  assert.is(plain.process!.terminal, false);
  assert.throws(() => gen({ Cmd: ['x'] }, { cwd: 'rel' }), /must be an absolute path/);
});

test('labels and stop signal become annotations; mounts are added and replace defaults at the same path', () => {
  const spec = gen(
    { Cmd: ['x'], Labels: { 'org.example': 'v' }, StopSignal: 'SIGQUIT', Volumes: { '/data': {} } },
    {
      mounts: [
        { destination: '/data', type: 'bind', source: '/store/volumes/v/_data', options: ['rbind', 'rprivate'] },
        { destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      ],
    },
  );
  assert.equal(spec.annotations, { 'org.example': 'v', [STOP_SIGNAL_ANNOTATION]: 'SIGQUIT' });
  assert.equal(spec.mounts!.find((m) => m.destination === '/data'), { destination: '/data', type: 'bind', source: '/store/volumes/v/_data', options: ['rbind', 'rprivate'] });
  const shm = spec.mounts!.filter((m) => m.destination === '/dev/shm');
  assert.equal(shm.map((m) => m.options), [['size=1m']]);
  assert.ok(spec.mounts!.some((m) => m.destination === '/proc'));
  // Image Volumes are mounts only when the caller made them (volume-mounts.ts).
  assert.is(gen({ Cmd: ['x'], Volumes: { '/data': {} } }).mounts!.some((m) => m.destination === '/data'), false);
});

test.run();
