// The pieces of the warm path that need no root: locks shared by one server's commands, the
// peer checks, the REQUEST encoding, signal sources, and launchInit driving an init it did not
// spawn itself (as the front end's fork is).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forwardSignals, type SignalSource } from '../../runtime/cli/signals';
import { launchInit } from '../../runtime/init/launch';
import { CloneMode, FrameReader, MsgType, OpCode, frame } from '../../runtime/init/protocol';
import type { InitChild, InitSpawner } from '../../runtime/init/spawner';
import { difference, inheritedOf, refusal } from '../../runtime/server/peer';
import { decodeRequest, encodeRequest } from '../../runtime/server/protocol';
import { StateStore, lockHolderPid } from '../../runtime/state';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-unit-warm-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function storeWith(id: string): StateStore {
  const store = new StateStore(path.join(tmp, `root-${id}`));
  store.reserve(id);
  return store;
}

test('lock holders: "<pid>" and "<pid> <holder>" both name the pid', () => {
  assert.is(lockHolderPid('123'), 123);
  assert.is(lockHolderPid('123 123.4'), 123);
  assert.is(lockHolderPid(''), 0);
  assert.is(lockHolderPid('x'), 0);
});

test('two commands of one process (one server) serialise on a container lock; one never frees the other\'s', async () => {
  const store = storeWith('a');
  const release1 = await store.lock('a');
  let second = false;
  const p2 = store.lock('a', 2000).then((r) => { second = true; return r; });
  await new Promise((r) => setTimeout(r, 30));
  assert.not.ok(second, 'the same pid holds it: the second waits');
  release1();
  const release2 = await p2;
  assert.ok(second);
  const content = fs.readFileSync(path.join(tmp, 'root-a', 'a', 'lock'), 'utf8');
  release1(); // a late second release of the first lock leaves the second in place
  assert.is(fs.readFileSync(path.join(tmp, 'root-a', 'a', 'lock'), 'utf8'), content);
  release2();
  assert.not.ok(fs.existsSync(path.join(tmp, 'root-a', 'a', 'lock')));
});

test('a lock left by a dead server (any holder part) is taken over', async () => {
  const store = storeWith('b');
  const file = path.join(tmp, 'root-b', 'b', 'lock');
  // A pid that is certainly not alive: above pid_max.
  fs.writeFileSync(file, '4194305 4194305.7');
  const release = await store.lock('b', 1000);
  assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`^${process.pid} `));
  release();
});

test('an empty lock is not stolen while young (its holder may not have written yet)', async () => {
  const store = storeWith('c');
  const file = path.join(tmp, 'root-c', 'c', 'lock');
  fs.writeFileSync(file, '');
  const err = await store.lock('c', 100).then(() => undefined, (e: Error) => e);
  assert.ok(err, 'waits for it');
  const old = new Date(Date.now() - 5000);
  fs.utimesSync(file, old, old);
  (await store.lock('c', 1000))();
});

test('peer checks: other uid or gid refused; any difference in what a cold trun inherits named', () => {
  assert.is(refusal({ pid: 1, uid: 0, gid: 0 }, { uid: 0, gid: 0 }), undefined);
  assert.match(refusal({ pid: 1, uid: 65534, gid: 0 }, { uid: 0, gid: 0 })!, /uid 65534 is not the server's uid 0/);
  assert.match(refusal({ pid: 1, uid: 0, gid: 5 }, { uid: 0, gid: 0 })!, /gid 5/);
  const self = inheritedOf('self');
  assert.ok(self.Umask && self.CapEff && self['ns/mnt'] && self.root);
  assert.is(difference(self, self), undefined);
  assert.match(difference({ ...self, Umask: '0077' }, self)!, /^Umask differs/);
  assert.match(difference({ ...self, 'ns/pid': 'pid:[1]' }, self)!, /^ns\/pid differs/);
});

test('REQUEST round trip; malformed requests are refused', () => {
  const req = { frontendDir: '/opt/trun/dist', node: '/usr/bin/node', cwd: '/tmp/x y', argv: ['run', '-b', 'a b', ''], env: { A: '1', B: 'x=y', E: '' } };
  assert.equal(decodeRequest(encodeRequest(req)), req);
  assert.throws(() => decodeRequest(Buffer.from('2\0a\0b\0c\0' + '0\0')), /version/);
  assert.throws(() => decodeRequest(Buffer.from('1\0a\0b\0c\0' + '5\0x\0')), /malformed/);
  assert.throws(() => decodeRequest(Buffer.from('1\0a')), /NUL/);
});

test('forwardSignals subscribes every forwarded signal and unsubscribes them all', () => {
  const handlers = new Map<string, Set<() => void>>();
  const source: SignalSource = {
    on: (s, h) => { if (!handlers.has(s)) handlers.set(s, new Set()); handlers.get(s)!.add(h); },
    off: (s, h) => { handlers.get(s)?.delete(h); },
  };
  const got: string[] = [];
  const off = forwardSignals(source, (s) => got.push(s));
  for (const h of handlers.get('SIGTERM')!) h();
  for (const h of handlers.get('SIGWINCH')!) h();
  assert.equal(got, ['SIGTERM', 'SIGWINCH']);
  off();
  assert.ok([...handlers.values()].every((s) => s.size === 0));
});

test('launchInit drives an init started by another spawner, asynchronously (the front end\'s fork)', async () => {
  // A fake init on the far side of a duplex pair: reads PLAN, reports a pid, stops at one sync
  // point, and after GO reports a wait status and exits.
  class FakeChild extends EventEmitter implements InitChild {
    exitCode: number | null = null;
    signalCode: NodeJS.Signals | null = null;
    pid = 4242;
    kill(): boolean { return false; }
  }
  const child = new FakeChild();
  const toInit = new PassThrough();
  const fromInit = new PassThrough();
  // Like a socket (and the front end's relay): the end of what the init sends closes the stream.
  const ours = new Duplex({ allowHalfOpen: false, read: () => {}, write: (c: Buffer, _e, cb) => { toInit.write(c); cb(); } });
  fromInit.on('data', (d: Buffer) => ours.push(d));
  fromInit.on('end', () => ours.push(null));
  const reader = new FrameReader();
  const seen: number[] = [];
  toInit.on('data', (chunk: Buffer) => {
    for (const m of reader.push(chunk)) {
      seen.push(m.type);
      if (m.type === MsgType.PLAN) fromInit.write(Buffer.concat([frame(MsgType.PID, '4243'), frame(MsgType.SYNC, 'hooks')]));
      if (m.type === MsgType.GO) {
        fromInit.end(frame(MsgType.EXIT, String(7 << 8)));
        setImmediate(() => { child.exitCode = 7; child.emit('exit', 7, null); });
      }
    }
  });
  const spawner: InitSpawner = {
    spawn: async (req) => {
      assert.equal([req.syncFd, req.preserveFds, req.stdio], [5, 2, ['inherit', 'inherit', 'ignore']]);
      return { child, sync: ours };
    },
  };
  const syncs: string[] = [];
  let before = 0;
  const res = await launchInit({
    ops: [{ op: OpCode.CLONE, flags: 0, mode: CloneMode.WAIT }],
    stdio: ['inherit', 'inherit', 'ignore'],
    preserveFds: 2,
    spawner,
    beforePlan: (p) => { before = p; },
    onSync: (name) => { syncs.push(name); },
  });
  assert.equal([res.pid, res.waitStatus, before, syncs], [4243, 7 << 8, 4242, ['hooks']]);
  assert.equal(seen, [MsgType.PLAN, MsgType.GO]);
});

test('launchInit reports a spawner\'s failure as Node\'s spawn error would read', async () => {
  const spawner: InitSpawner = { spawn: () => Promise.reject(new Error('spawn /x/trun-init ENOENT')) };
  const err = await launchInit({ ops: [], stdio: ['inherit', 'inherit', 'inherit'], spawner, id: 'c1' }).then(() => undefined, (e: Error) => e);
  assert.match(err!.message, /^spawn trun-init: spawn \/x\/trun-init ENOENT$/);
});

test.run();
