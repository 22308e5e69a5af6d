// The generated types and validators match the schemas, and the drift check notices when not.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findDrift, generate, type GeneratedFile } from '../../spec/generate-types';

const repoRoot = path.resolve(__dirname, '..', '..');
const specDir = path.join(repoRoot, 'spec');
let files: GeneratedFile[] = [];
let tmp = '';

test.before(async () => {
  files = await generate();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-spec-'));
});

test.after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('generate produces the files the project imports', () => {
  const paths = files.map((f) => f.path);
  for (const p of ['types/runtime.ts', 'types/image.ts', 'validators/runtime-config.js', 'validators/runtime-config.d.ts', 'validators/runtime-state.js', 'validators/image-manifest.js', 'validators/image-config.js', 'validators/image-index.js', 'validators/image-layout.js']) {
    assert.ok(paths.includes(p), p);
  }
  const runtime = files.find((f) => f.path === 'types/runtime.ts')!.content;
  for (const name of ['Spec', 'State', 'Features', 'Mount', 'Process', 'User', 'Hook', 'Hooks', 'Linux', 'LinuxNamespace', 'LinuxIDMapping', 'LinuxDevice', 'LinuxResources', 'LinuxSeccomp', 'POSIXRlimit', 'Capabilities', 'Root']) {
    assert.match(runtime, new RegExp(`^export (interface|type) ${name}\\b`, 'm'), name);
  }
  const image = files.find((f) => f.path === 'types/image.ts')!.content;
  for (const name of ['ImageConfig', 'ImageManifest', 'ImageIndex', 'Descriptor', 'ImageLayout']) {
    assert.match(image, new RegExp(`^export (interface|type) ${name}\\b`, 'm'), name);
  }
});

test('validators are precompiled: no schema compiler in the generated code', () => {
  for (const f of files.filter((x) => x.path.endsWith('.js'))) {
    assert.not.match(f.content, /require\("ajv"\)|require\("ajv-draft-04"\)|new Function/, f.path);
    // Only ajv's small runtime helpers may be required.
    for (const m of f.content.matchAll(/require\("([^"]+)"\)/g)) assert.match(m[1]!, /^ajv\/dist\/runtime\//, f.path);
  }
});

test('the committed outputs are up to date', () => {
  assert.equal(findDrift(files), []);
});

test('findDrift reports an edited or missing output', () => {
  const copy = path.join(tmp, 'spec');
  for (const dir of ['types', 'validators']) fs.cpSync(path.join(specDir, dir), path.join(copy, dir), { recursive: true });
  assert.equal(findDrift(files, copy), []);
  fs.appendFileSync(path.join(copy, 'types', 'runtime.ts'), '// hand edit\n');
  fs.rmSync(path.join(copy, 'validators', 'image-layout.js'));
  assert.equal(findDrift(files, copy).sort(), ['types/runtime.ts', 'validators/image-layout.js']);
});

test('a schema change is drift', async () => {
  const schemas = path.join(tmp, 'schema');
  fs.cpSync(path.join(specDir, 'schema'), schemas, { recursive: true });
  const stateFile = path.join(schemas, 'runtime', 'state-schema.json');
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { properties: Record<string, unknown> };
  state.properties.rootless = { type: 'boolean' };
  fs.writeFileSync(stateFile, JSON.stringify(state));
  const drift = findDrift(await generate({ schemaDir: schemas }));
  assert.ok(drift.includes('types/runtime.ts'), drift.join(','));
  assert.ok(drift.includes('validators/runtime-state.js'), drift.join(','));
  assert.not.ok(drift.includes('types/image.ts'));
});

test('`generate-types.ts --check` exits 0 on a clean tree', () => {
  const r = spawnSync(path.join(repoRoot, 'node_modules', '.bin', 'tsx'), ['spec/generate-types.ts', '--check'], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test.run();
