// PAX handling: binary xattr values survive a write and a read through tar-stream; long names
// and big ids go to PAX records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tar from 'tar-stream';
import { decodePax, encodePax, entryAttrs, fitsUstar, paxFor, useBinaryPax, type TarHeader } from '../../bundle-tools/lib/tar-format';
import { makeTar } from '../helpers/tarballs';

const CAP = Buffer.from([1, 0, 0, 2, 0x80, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function read(buf: Buffer, binary: boolean): Promise<TarHeader[]> {
  const ex = tar.extract();
  if (binary) useBinaryPax(ex);
  const out: TarHeader[] = [];
  const done = (async () => {
    for await (const e of ex) {
      out.push(e.header as unknown as TarHeader);
      e.resume();
    }
  })();
  ex.end(buf);
  await done;
  return out;
}

test('PAX records encode their own length', () => {
  const b = encodePax([['path', 'a'.repeat(95)], ['SCHILY.xattr.security.capability', CAP]]);
  const back = decodePax(b);
  assert.is(back.get('path')!.toString(), 'a'.repeat(95));
  assert.equal(back.get('SCHILY.xattr.security.capability'), CAP);
  // " path=" + 95 + "\n" is 102 bytes; with its own three digits the record is 105.
  assert.ok(b.toString('latin1').startsWith('105 path='));
});

test('binary xattrs survive tar-stream only with useBinaryPax', async () => {
  const tarball = await makeTar([{ name: 'bin/ping', content: 'x', xattrs: { 'security.capability': CAP, 'user.é': 'ü' } }]);
  const [h] = await read(tarball, true);
  const attrs = entryAttrs(h!);
  assert.equal(attrs.xattrs.get('security.capability'), CAP);
  assert.is(attrs.xattrs.get('user.é')!.toString('utf8'), 'ü');
  assert.is(h!.name, 'bin/ping');
  // The point of the patch: stock tar-stream mangles the bytes >= 0x80.
  const [plain] = await read(tarball, false);
  const mangled = Buffer.from(String((plain!.pax as Record<string, string>)['SCHILY.xattr.security.capability']), 'latin1');
  assert.not.equal(mangled, CAP);
});

test('paxFor: long names, non-ASCII names, big ids, xattrs', () => {
  assert.is(paxFor({ name: 'short', uid: 0, gid: 0 }, new Map()), null);
  const long = `${'d/'.repeat(150)}file`;
  assert.not.ok(fitsUstar(long));
  const p = paxFor({ name: long, type: 'file', uid: 3_000_000, gid: 0 }, new Map([['user.a', Buffer.from([0xff])]]))!;
  const rec = decodePax(p.pax);
  assert.is(rec.get('path')!.toString(), long);
  assert.is(rec.get('uid')!.toString(), '3000000');
  assert.equal(rec.get('SCHILY.xattr.user.a'), Buffer.from([0xff]));
  assert.is(p.header.uid, 0);
  assert.ok(fitsUstar(p.header.name));
  assert.ok(fitsUstar(`${'p'.repeat(150)}/${'n'.repeat(99)}`));
  assert.ok(paxFor({ name: 'café' }, new Map()) !== null);
});

test('a long-named entry with binary xattrs round-trips through pack and extract', async () => {
  const long = `${'x/'.repeat(200)}file`;
  const tarball = await makeTar([{ name: long, content: 'data', xattrs: { 'security.capability': CAP } }]);
  const [h] = await read(tarball, true);
  assert.is(h!.name, long);
  assert.equal(entryAttrs(h!).xattrs.get('security.capability'), CAP);
});

test.run();
