// --format templates (bundle-tools/lib/template.ts): the Go-template subset inspect and history take.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileTemplate } from '../../bundle-tools/lib/template';
import { TrunError } from '../../runtime/errors';

const item = { Id: 'sha256:abc', RepoTags: ['a:1', 'b:2'], Config: { Env: ['X=1'], User: '' }, Size: 42, Gone: null };

test('fields, nested fields, json, join, and the item itself', () => {
  assert.is(compileTemplate('{{.Id}} is {{.Size}} bytes')(item), 'sha256:abc is 42 bytes');
  assert.is(compileTemplate('{{ .Config.Env }}|{{.Config.User}}|')(item), '["X=1"]||');
  assert.is(compileTemplate('{{json .Config}}')(item), '{"Env":["X=1"],"User":""}');
  assert.is(compileTemplate('{{join .RepoTags ", "}}')(item), 'a:1, b:2');
  assert.is(compileTemplate('{{.Gone}} {{.Missing.Deeper}}')(item), '<no value> <no value>');
  assert.is(compileTemplate('{{json .}}')({ a: 1 }), '{"a":1}');
  assert.is(compileTemplate('no actions')(item), 'no actions');
});

test('what the subset does not know is a clear EINVAL', () => {
  for (const [src, re] of [['{{range .RepoTags}}x{{end}}', /unsupported action "\{\{range \.RepoTags\}\}"/], ['{{.Id', /unclosed action/], ['{{join .RepoTags}}', /unsupported action/], ['{{.A..B}}', /bad field/]] as const) {
    try {
      compileTemplate(src);
      assert.unreachable(src);
    } catch (err) {
      assert.instance(err, TrunError);
      assert.is((err as TrunError).code, 'EINVAL');
      assert.match((err as Error).message, re);
    }
  }
});

test.run();
