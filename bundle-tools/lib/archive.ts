// Reads an image archive (oci-archive or `docker save` tarball, optionally compressed) into a
// staging directory: regular files and directories only, every name checked; symlinks and hard
// links (docker save links repeated layers) are kept as aliases rather than created.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { TrunError } from '../../runtime/errors';
import { decompressor, fileCompression } from './compression';
import { ensureParentDirs, normalizeEntryPath } from './path-safety';

export interface StagedArchive {
  dir: string;
  /** Archive path -> the archive path it links to. */
  aliases: Map<string, string>;
}

export async function stageArchive(file: string, dir: string, onBytes?: (n: number) => void): Promise<StagedArchive> {
  const aliases = new Map<string, string>();
  const extract = tar.extract();
  const input = fs.createReadStream(file);
  if (onBytes) input.on('data', (c: Buffer | string) => onBytes(c.length));
  const feeding = pipeline(input, decompressor(fileCompression(file), file), extract);
  feeding.catch(() => undefined);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const rel = normalizeEntryPath(h.name, 'archive entry');
      const body = entry as unknown as AsyncIterable<Buffer>;
      if (rel !== '' && (h.type === 'file' || h.type === 'contiguous-file')) {
        ensureParentDirs(dir, rel);
        const target = path.join(dir, rel);
        fs.rmSync(target, { force: true });
        await pipeline(body, fs.createWriteStream(target, { flags: 'wx', mode: 0o600 }));
        aliases.delete(rel);
        continue;
      }
      if (rel !== '' && (h.type === 'symlink' || h.type === 'link')) {
        const link = h.linkname ?? '';
        const to = h.type === 'link' ? normalizeEntryPath(link, 'archive link') : normalizeEntryPath(path.posix.join(path.posix.dirname(rel), link), 'archive symlink');
        aliases.set(rel, to);
      }
      for await (const chunk of body) void chunk;
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    await feeding.catch(() => undefined);
    if (err instanceof TrunError) throw err;
    throw new TrunError('EIMAGE', `read archive "${file}": ${(err as Error).message}`, { cause: err });
  }
  return { dir, aliases };
}

/** The staged file for an archive path, following aliases (a bounded number of times). */
export function stagedFile(s: StagedArchive, name: string): string {
  let rel = normalizeEntryPath(name, 'archive path');
  for (let i = 0; i < 16 && s.aliases.has(rel); i++) rel = s.aliases.get(rel)!;
  return path.join(s.dir, rel);
}
