// Image-spec validators: minimal valid documents pass, broken ones fail naming the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseImageJson, validateImageConfig, validateImageIndex, validateImageLayout, validateImageManifest } from '../../spec/validate-image';
import { expectTrunError } from '../helpers/errors';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const descriptor = (mediaType: string, size = 7): Record<string, unknown> => ({ mediaType, size, digest: DIGEST });

const rejects = (fn: () => unknown, pattern: RegExp): void => { expectTrunError(fn, 'EIMAGE', pattern); };

test('manifest: minimal valid, and broken', () => {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptor('application/vnd.oci.image.config.v1+json'),
    layers: [descriptor('application/vnd.oci.image.layer.v1.tar+gzip', 1234)],
  };
  assert.is(validateImageManifest(manifest).layers.length, 1);
  rejects(() => validateImageManifest({ ...manifest, config: { ...manifest.config, digest: 'sha256' } }, 'blobs/sha256/x'), /^"blobs\/sha256\/x": config\.digest: must match pattern/);
  rejects(() => validateImageManifest({ ...manifest, schemaVersion: 1 }), /: schemaVersion: must be >= 2$/);
  rejects(() => validateImageManifest({ schemaVersion: 2, config: manifest.config }), /: layers: is required$/);
  rejects(() => validateImageManifest({ ...manifest, layers: [{ ...manifest.layers[0], size: 'big' }] }), /: layers\[0\]\.size: must be integer$/);
});

test('image config: minimal valid, and broken', () => {
  const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [DIGEST] } };
  assert.is(validateImageConfig(config).rootfs.diff_ids.length, 1);
  validateImageConfig({ ...config, created: '2024-01-02T03:04:05.123Z', config: { Env: ['A=b'], Cmd: ['sh'] } });
  rejects(() => validateImageConfig({ ...config, rootfs: { type: 'tarballs', diff_ids: [] } }), /: rootfs\.type: must be one of "layers"$/);
  rejects(() => validateImageConfig({ ...config, created: 'yesterday' }), /: created: must match format "date-time"$/);
  rejects(() => validateImageConfig({ os: 'linux', rootfs: config.rootfs }), /: architecture: is required$/);
});

test('index: minimal valid, and broken', () => {
  const index = {
    schemaVersion: 2,
    manifests: [{ ...descriptor('application/vnd.oci.image.manifest.v1+json'), platform: { architecture: 'amd64', os: 'linux' }, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  assert.is(validateImageIndex(index).manifests.length, 1);
  rejects(() => validateImageIndex({ schemaVersion: 2, manifests: [{ ...index.manifests[0], platform: { os: 'linux' } }] }, 'index.json'), /^"index\.json": manifests\[0\]\.platform\.architecture: is required$/);
  rejects(() => validateImageIndex({ schemaVersion: 2, manifests: [{ ...index.manifests[0], urls: ['not a uri'] }] }), /: manifests\[0\]\.urls\[0\]: must match format "uri"$/);
});

test('oci-layout: valid, and broken', () => {
  assert.is(validateImageLayout({ imageLayoutVersion: '1.0.0' }).imageLayoutVersion, '1.0.0');
  rejects(() => validateImageLayout({ imageLayoutVersion: '2.0.0' }, '/store/oci-layout'), /^"\/store\/oci-layout": imageLayoutVersion: must be one of "1\.0\.0"$/);
  rejects(() => validateImageLayout({}), /imageLayoutVersion: is required$/);
});

test('image JSON parse errors name the file', () => {
  rejects(() => parseImageJson('{"a":', '/store/index.json'), /^"\/store\/index\.json": invalid JSON: /);
});

test.run();
