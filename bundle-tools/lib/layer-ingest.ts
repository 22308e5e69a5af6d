// Layers entering the store at import: each source blob is read once, and that one read copies
// it, checks its digest and diffID and unpacks it into a tmp/ directory of the layer cache.
// Blobs are adopted into blobs/ once every layer has passed; unpacked layers only at the very end
// (adoptLayers), so a failed import leaves neither blobs nor layers behind.
import * as fs from 'node:fs';
import { sysError } from '../../runtime/errors';
import type { Compression } from './compression';
import type { BlobTxn } from './image-write';
import { adoptLayerDir, layerTmpDir } from './layer-cache';
import { runLayerPasses, type PassProgress } from './layer-passes';
import type { Store } from './store';
import type { LayerPass } from './unpack';

export interface LayerIn {
  /** The blob file to read. */
  source: string;
  /** Expected digest and size; docker save names none, so the digest is then computed. */
  digest?: string;
  size?: number;
  diffID: string;
}

export interface LayerOut {
  digest: string;
  size: number;
  compression: Compression;
}

export class LayerIngest {
  /** Verified layer dirs in tmp/, by diffID, waiting for adoptLayers(). */
  private readonly pendingLayers = new Map<string, string>();
  /** Everything in tmp/ this ingest made and has not adopted yet. */
  private readonly scratch = new Set<string>();

  /**
   * `ownsSources`: the sources are our own staging copies (an unpacked archive in tmp/), moved
   * into blobs/ rather than copied.
   */
  constructor(private readonly store: Store, private readonly txn: BlobTxn, private readonly ownsSources: boolean) {}

  /** Reads every layer once (identical sources once in all); adopts the blobs. */
  async run(layers: LayerIn[], progress: PassProgress = {}): Promise<LayerOut[]> {
    const keyOf = (l: LayerIn): string => `${l.source}\0${l.diffID}`;
    const unique = new Map<string, LayerIn>();
    for (const l of layers) if (!unique.has(keyOf(l))) unique.set(keyOf(l), l);
    const jobs: LayerPass[] = [];
    const extracting = new Set<string>();
    for (const l of unique.values()) {
      const job: LayerPass = { file: l.source, diffID: l.diffID, dest: null };
      if (l.digest !== undefined) job.digest = l.digest;
      if (l.size !== undefined) job.size = l.size;
      const blobNeeded = l.digest === undefined || !this.store.hasBlob(l.digest);
      if (blobNeeded && !this.ownsSources) {
        job.copyTo = this.store.tmpPath('ingest');
        this.scratch.add(job.copyTo);
      }
      if (!this.store.hasLayer(l.diffID) && !extracting.has(l.diffID)) {
        extracting.add(l.diffID);
        job.dest = layerTmpDir(this.store);
        this.scratch.add(job.dest);
      }
      jobs.push(job);
    }
    const results = await runLayerPasses(jobs, progress);
    const byKey = new Map<string, LayerOut>();
    for (const [i, job] of jobs.entries()) {
      const r = results[i]!;
      if (job.copyTo !== undefined) {
        this.txn.note(r.digest);
        this.store.adoptBlob(job.copyTo, r.digest);
        this.scratch.delete(job.copyTo);
      } else if (!this.store.hasBlob(r.digest)) {
        this.txn.note(r.digest);
        try {
          fs.renameSync(job.file, this.store.blobPath(r.digest));
        } catch (err) {
          throw sysError('rename', job.file, err);
        }
      }
      if (job.dest !== null) this.pendingLayers.set(job.diffID, job.dest);
      byKey.set(`${job.file}\0${job.diffID}`, { digest: r.digest, size: r.size, compression: r.compression });
    }
    return layers.map((l) => byKey.get(keyOf(l))!);
  }

  /** Moves the unpacked layers into the cache: the last step of a successful import. */
  adoptLayers(): void {
    for (const [diffID, dir] of this.pendingLayers) {
      adoptLayerDir(this.store, dir, diffID);
      this.scratch.delete(dir);
    }
    this.pendingLayers.clear();
  }

  /** Removes whatever was not adopted (call in a finally). */
  discard(): void {
    for (const p of this.scratch) fs.rmSync(p, { recursive: true, force: true });
    this.scratch.clear();
    this.pendingLayers.clear();
  }
}
