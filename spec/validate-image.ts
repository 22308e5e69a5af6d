// Validates OCI image documents (manifest, config, index, oci-layout) against the image-spec
// schemas. Kept apart from validate.ts so that the runtime's bundle does not carry them.
// Throws TrunError 'EIMAGE'.
import type { ImageConfig, ImageIndex, ImageLayout, ImageManifest } from './types/image';
import { validateImageConfig as configSchema } from './validators/image-config';
import { validateImageIndex as indexSchema } from './validators/image-index';
import { validateImageLayout as layoutSchema } from './validators/image-layout';
import { validateImageManifest as manifestSchema } from './validators/image-manifest';
import { parseJson, schemaError } from './schema-errors';

/** Parses an image document; invalid JSON is an EIMAGE error naming the file. */
export function parseImageJson(text: string, file: string): unknown {
  return parseJson(text, file, 'EIMAGE');
}

export function validateImageManifest(value: unknown, file = 'manifest'): ImageManifest {
  if (!manifestSchema(value)) throw schemaError('EIMAGE', file, value, manifestSchema.errors);
  return value;
}

export function validateImageConfig(value: unknown, file = 'image config'): ImageConfig {
  if (!configSchema(value)) throw schemaError('EIMAGE', file, value, configSchema.errors);
  return value;
}

export function validateImageIndex(value: unknown, file = 'index.json'): ImageIndex {
  if (!indexSchema(value)) throw schemaError('EIMAGE', file, value, indexSchema.errors);
  return value;
}

export function validateImageLayout(value: unknown, file = 'oci-layout'): ImageLayout {
  if (!layoutSchema(value)) throw schemaError('EIMAGE', file, value, layoutSchema.errors);
  return value;
}
