// Generates spec/types/{runtime,image}.ts (json-schema-to-typescript) and the precompiled ajv
// validators in spec/validators/ from the OCI schemas in spec/schema/. `--check` regenerates in
// memory and exits 1 when the committed files differ.
//
// The schema files stay byte-for-byte the OCI's; every fix-up happens on in-memory copies:
//   - `#definitions/...` refs (no slash) become `#/definitions/...`, which both tools need;
//   - nested draft-04 `id`s are dropped and each file gets one `id` of our own, so a ref such as
//     `defs.json#/...` resolves to the sibling file of the same spec (image-spec's own ids point
//     at opencontainers.org URLs that do not agree with its file names);
//   - descriptions beside a `$ref` are dropped (draft-04 ignores every sibling of `$ref`);
//   - `title`s from TITLES below name the types the runtime uses (Process, User, LinuxResources...);
//   - enums get the values runc 1.1 accepts beyond the spec's (ENUM_EXTENSIONS below).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv04 from 'ajv-draft-04';
import standaloneCode from 'ajv/dist/standalone';
import { compile } from 'json-schema-to-typescript';
import type { JSONSchema4 } from 'json-schema';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type SchemaSet = Map<string, { [k: string]: Json }>;

export interface GenerateOptions {
  /** Directory holding runtime/ and image/ schema folders; spec/schema by default. */
  schemaDir?: string;
}

/** A generated file: `path` is relative to spec/. */
export interface GeneratedFile {
  path: string;
  content: string;
}

const SPEC_DIR = __dirname;
const BASE_URI = 'http://trun.invalid/schema/';
const TOOL = 'spec/generate-types.ts';

/** Type names for schema nodes: "file#/json/pointer" -> title. */
const TITLES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  runtime: {
    'config-schema.json#': 'Spec',
    'config-schema.json#/properties/hooks': 'Hooks',
    'config-schema.json#/properties/root': 'Root',
    'config-schema.json#/properties/process': 'Process',
    'config-schema.json#/properties/process/properties/consoleSize': 'Box',
    'config-schema.json#/properties/process/properties/user': 'User',
    'config-schema.json#/properties/process/properties/capabilities': 'Capabilities',
    'config-schema.json#/properties/process/properties/ioPriority': 'IOPriority',
    'config-schema.json#/properties/process/properties/scheduler': 'Scheduler',
    'config-schema.json#/properties/process/properties/rlimits/items': 'POSIXRlimit',
    'config-schema.json#/properties/process/properties/execCPUAffinity': 'CPUAffinity',
    'config-linux.json#/linux': 'Linux',
    'config-linux.json#/linux/properties/resources': 'LinuxResources',
    'config-linux.json#/linux/properties/resources/properties/pids': 'LinuxPids',
    'config-linux.json#/linux/properties/resources/properties/blockIO': 'LinuxBlockIO',
    'config-linux.json#/linux/properties/resources/properties/cpu': 'LinuxCPU',
    'config-linux.json#/linux/properties/resources/properties/hugepageLimits/items': 'LinuxHugepageLimit',
    'config-linux.json#/linux/properties/resources/properties/memory': 'LinuxMemory',
    'config-linux.json#/linux/properties/resources/properties/network': 'LinuxNetwork',
    'config-linux.json#/linux/properties/seccomp': 'LinuxSeccomp',
    'config-linux.json#/linux/properties/intelRdt': 'LinuxIntelRdt',
    'config-linux.json#/linux/properties/memoryPolicy': 'LinuxMemoryPolicy',
    'config-linux.json#/linux/properties/timeOffsets': 'LinuxTimeOffsets',
    'defs-linux.json#/definitions/Device': 'LinuxDevice',
    'defs-linux.json#/definitions/NetDevice': 'LinuxNetDevice',
    'defs-linux.json#/definitions/NamespaceReference': 'LinuxNamespace',
    'defs-linux.json#/definitions/DeviceCgroup': 'LinuxDeviceCgroup',
    'defs-linux.json#/definitions/Syscall': 'LinuxSyscall',
    'defs-linux.json#/definitions/SyscallArg': 'LinuxSeccompArg',
    'defs-linux.json#/definitions/Personality': 'LinuxPersonality',
    'defs-linux.json#/definitions/Rdma': 'LinuxRdma',
    'defs-linux.json#/definitions/NetworkInterfacePriority': 'LinuxInterfacePriority',
    'defs-linux.json#/definitions/blockIODevice': 'LinuxBlockIODevice',
    'defs-linux.json#/definitions/blockIODeviceWeight': 'LinuxWeightDevice',
    'defs-linux.json#/definitions/blockIODeviceThrottle': 'LinuxThrottleDevice',
    'defs-linux.json#/definitions/TimeOffsets': 'LinuxTimeOffset',
    'defs-windows.json#/definitions/Device': 'WindowsDevice',
    'defs-zos.json#/definitions/NamespaceReference': 'ZOSNamespace',
    'defs-freebsd.json#/definitions/Device': 'FreeBSDDevice',
    'config-solaris.json#/solaris': 'Solaris',
    'config-windows.json#/windows': 'Windows',
    'config-vm.json#/vm': 'VM',
    'config-zos.json#/zos': 'ZOS',
    'config-freebsd.json#/freebsd': 'FreeBSD',
    'state-schema.json#': 'State',
    'features-schema.json#': 'Features',
    'features-linux.json#/linux': 'LinuxFeatures',
  },
  image: {
    'config-schema.json#': 'ImageConfig',
    'config-schema.json#/properties/config': 'ImageExecutionConfig',
    'config-schema.json#/properties/rootfs': 'RootFS',
    'config-schema.json#/properties/history/items': 'History',
    'image-manifest-schema.json#': 'ImageManifest',
    'image-index-schema.json#': 'ImageIndex',
    'image-index-schema.json#/properties/manifests/items': 'ManifestDescriptor',
    'image-index-schema.json#/properties/manifests/items/properties/platform': 'Platform',
    'content-descriptor.json#': 'Descriptor',
    'defs-descriptor.json#/definitions/urls': 'URLs',
    'image-layout-schema.json#': 'ImageLayout',
  },
};

/**
 * Values runc 1.1 accepts where the schema's enum is narrower: configs written for runc must
 * validate. "file#/json/pointer" -> the values appended to that node's enum.
 */
const ENUM_EXTENSIONS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  runtime: {
    // The recursive forms of linux.rootfsPropagation (runc's specconv maps all eight).
    'defs-linux.json#/definitions/RootfsPropagation': ['rprivate', 'rshared', 'rslave', 'runbindable'],
  },
  image: {},
};

/** The documents each types file declares (roots for json-schema-to-typescript). */
const TYPE_ROOTS: Readonly<Record<string, readonly string[]>> = {
  runtime: ['config-schema.json', 'state-schema.json', 'features-schema.json'],
  image: ['config-schema.json', 'image-manifest-schema.json', 'image-index-schema.json', 'content-descriptor.json', 'image-layout-schema.json'],
};

/** Hand-chosen aliases appended to the generated types, for names the schemas spell differently. */
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  runtime: ['export type LinuxIDMapping = IDMapping;', 'export type LinuxCapabilities = Capabilities;'],
  image: [],
};

/** Validator modules: file name (without extension) -> spec, schema file, exported name, type. */
const VALIDATORS: readonly { file: string; spec: 'runtime' | 'image'; schema: string; name: string; type: string }[] = [
  { file: 'runtime-config', spec: 'runtime', schema: 'config-schema.json', name: 'validateRuntimeConfig', type: 'Spec' },
  { file: 'runtime-state', spec: 'runtime', schema: 'state-schema.json', name: 'validateRuntimeState', type: 'State' },
  { file: 'image-manifest', spec: 'image', schema: 'image-manifest-schema.json', name: 'validateImageManifest', type: 'ImageManifest' },
  { file: 'image-config', spec: 'image', schema: 'config-schema.json', name: 'validateImageConfig', type: 'ImageConfig' },
  { file: 'image-index', spec: 'image', schema: 'image-index-schema.json', name: 'validateImageIndex', type: 'ImageIndex' },
  { file: 'image-layout', spec: 'image', schema: 'image-layout-schema.json', name: 'validateImageLayout', type: 'ImageLayout' },
];

/**
 * Formats the image schemas use, as regular expressions so that ajv inlines them into the
 * standalone code (ajv-formats is not a dependency, and function formats would need a module).
 */
const FORMATS: Readonly<Record<string, RegExp>> = {
  uri: /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/,
  'date-time': /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/,
};

function normalise(value: Json): Json {
  if (Array.isArray(value)) return value.map(normalise);
  if (value === null || typeof value !== 'object') return value;
  const out: { [k: string]: Json } = {};
  for (const [key, v] of Object.entries(value)) {
    // A string `id` is the draft-04 keyword; an object one is a property named "id".
    if (key === 'id' && typeof v === 'string') continue;
    // A description beside a $ref makes the ref parser build a new object, which
    // json-schema-to-typescript then declares twice (URLs, URLs1); draft-04 ignores it anyway.
    if (key === 'description' && typeof value.$ref === 'string') continue;
    if (key === '$ref' && typeof v === 'string') out[key] = v.replace(/#definitions\//, '#/definitions/');
    else out[key] = normalise(v);
  }
  return out;
}

function nodeAt(root: Json, pointer: string, where: string): { [k: string]: Json } {
  let node: Json = root;
  for (const part of pointer.split('/').slice(1)) {
    node = node !== null && typeof node === 'object' && !Array.isArray(node) ? (node[part] ?? null) : null;
  }
  if (node === null || typeof node !== 'object' || Array.isArray(node)) throw new Error(`${where}: no schema object at this pointer`);
  return node;
}

/** Reads one spec's schema folder into normalised, titled in-memory copies. */
export function loadSchemas(schemaDir: string, spec: 'runtime' | 'image'): SchemaSet {
  const dir = path.join(schemaDir, spec);
  const set: SchemaSet = new Map();
  for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const parsed = normalise(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Json);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${name}: not a schema object`);
    set.set(name, parsed);
  }
  for (const [where, title] of Object.entries(TITLES[spec] ?? {})) {
    const [file, pointer] = where.split('#') as [string, string];
    const schema = set.get(file);
    if (!schema) throw new Error(`${spec}/${file}: schema file missing (named in TITLES)`);
    nodeAt(schema, pointer, `${spec}/${where}`).title = title;
  }
  for (const [where, values] of Object.entries(ENUM_EXTENSIONS[spec] ?? {})) {
    const [file, pointer] = where.split('#') as [string, string];
    const node = nodeAt(set.get(file) ?? null, pointer, `${spec}/${where}`);
    if (!Array.isArray(node.enum)) throw new Error(`${spec}/${where}: no enum to extend`);
    node.enum = [...node.enum, ...values];
  }
  return set;
}

const BANNER = (what: string): string =>
  `/* eslint-disable */\n// GENERATED by ${TOOL} from spec/schema/ with ${what}: do not edit; run \`make types\`.\n`;

async function generateTypes(set: SchemaSet, spec: 'runtime' | 'image'): Promise<string> {
  const roots = TYPE_ROOTS[spec] ?? [];
  // One synthetic root referencing every document, so that shared definitions are declared once.
  const rootName = spec === 'runtime' ? 'RuntimeSpecDocument' : 'ImageSpecDocument';
  const root: JSONSchema4 = {
    title: rootName,
    description: `Any document of the OCI ${spec === 'runtime' ? 'Runtime' : 'Image Format'} Specification that trun reads`,
    anyOf: roots.map((file) => ({ $ref: `${file}#` })),
  };
  const dir = path.join(SPEC_DIR, 'schema', spec) + path.sep;
  const body = await compile(structuredClone(root), rootName, {
    cwd: dir,
    bannerComment: '',
    additionalProperties: false, // the schemas allow unknown fields; the types should not invite them
    unknownAny: true,
    strictIndexSignatures: true,
    declareExternallyReferenced: true,
    $refOptions: {
      resolve: {
        file: false,
        http: false,
        memory: {
          order: 1,
          canRead: true,
          read: (file: { url: string }): Json => {
            const schema = set.get(path.basename(file.url));
            if (!schema) throw new Error(`${spec}: unresolved schema ref ${file.url}`);
            return structuredClone(schema); // json-schema-to-typescript rewrites what it is given

          },
        },
      },
    } as never,
  });
  const aliases = (ALIASES[spec] ?? []).join('\n');
  return `${BANNER('json-schema-to-typescript')}\n${body.trim()}\n${aliases ? `\n// Names the runtime uses that the schemas spell differently.\n${aliases}\n` : ''}`;
}

function generateValidator(set: SchemaSet, v: (typeof VALIDATORS)[number]): { js: string; dts: string } {
  const ajv = new Ajv04({
    code: { source: true, optimize: true },
    // The OCI schemas carry non-standard keywords ("media") and loose typing that strict mode rejects.
    strict: false,
    allErrors: false,
    formats: FORMATS,
    inlineRefs: false, // about 10% less code for the same speed: the defs are shared by many fields
  });
  for (const [name, schema] of set) ajv.addSchema({ ...schema, id: `${BASE_URI}${v.spec}/${name}` });
  const code = standaloneCode(ajv, { [v.name]: `${BASE_URI}${v.spec}/${v.schema}` });
  const js = `${BANNER('ajv standalone (draft-04)')}${code}\n`;
  const dts =
    `${BANNER('ajv standalone (draft-04)')}` +
    `import type { ErrorObject } from 'ajv';\n` +
    `import type { ${v.type} } from '../types/${v.spec}';\n\n` +
    `/** Checks a document against ${v.spec}/${v.schema}; on failure \`.errors\` holds ajv's error list. */\n` +
    `export declare const ${v.name}: {\n  (data: unknown): data is ${v.type};\n  errors?: ErrorObject[] | null;\n};\n`;
  return { js, dts };
}

/** Produces every generated file in memory. */
export async function generate(options: GenerateOptions = {}): Promise<GeneratedFile[]> {
  const schemaDir = options.schemaDir ?? path.join(SPEC_DIR, 'schema');
  const sets = { runtime: loadSchemas(schemaDir, 'runtime'), image: loadSchemas(schemaDir, 'image') };
  const files: GeneratedFile[] = [
    { path: 'types/runtime.ts', content: await generateTypes(sets.runtime, 'runtime') },
    { path: 'types/image.ts', content: await generateTypes(sets.image, 'image') },
  ];
  for (const v of VALIDATORS) {
    const { js, dts } = generateValidator(sets[v.spec], v);
    files.push({ path: `validators/${v.file}.js`, content: js }, { path: `validators/${v.file}.d.ts`, content: dts });
  }
  return files;
}

/** Paths (relative to specDir) whose committed content differs from `files`, or that are missing. */
export function findDrift(files: readonly GeneratedFile[], specDir: string = SPEC_DIR): string[] {
  return files
    .filter((f) => {
      const target = path.join(specDir, f.path);
      return !fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== f.content;
    })
    .map((f) => f.path);
}

export function writeGenerated(files: readonly GeneratedFile[], specDir: string = SPEC_DIR): void {
  for (const f of files) {
    const target = path.join(specDir, f.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, f.content);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const files = await generate();
  if (argv.includes('--check')) {
    const drift = findDrift(files);
    if (drift.length === 0) return 0;
    process.stderr.write(
      `spec: generated files are out of date with the schemas: ${drift.map((p) => `spec/${p}`).join(', ')}\n` +
        `run \`make types\` and commit the result\n`,
    );
    return 1;
  }
  writeGenerated(files);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`spec/generate-types: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
