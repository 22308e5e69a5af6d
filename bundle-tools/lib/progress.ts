// Progress events the library emits for long operations; the CLI decides how (and whether) to show them.

export interface ProgressEvent {
  phase: 'unpack' | 'commit' | 'import' | 'export';
  /** 1-based index of the layer being worked on, and how many there are. */
  layer: number;
  layers: number;
  /** Layers finished so far (layers run in parallel, so `layer` alone says little). */
  layersDone?: number;
  /** Bytes done so far in the whole operation, and the total when known. */
  bytes: number;
  totalBytes?: number;
  /** Set on the last event of an operation. */
  done?: boolean;
}

export type ProgressFn = (e: ProgressEvent) => void;

/** Callbacks for a set of layer passes that turn bytes read and layers finished into events. */
export function layerProgress(onProgress: ProgressFn | undefined, phase: ProgressEvent['phase'], layers: number, totalBytes?: number): {
  onBytes?: (n: number) => void;
  onLayerDone?: () => void;
} {
  if (!onProgress) return {};
  let bytes = 0;
  let done = 0;
  const report = (): void => onProgress({
    phase, layer: Math.min(done + 1, layers), layers, layersDone: done, bytes, ...(totalBytes !== undefined ? { totalBytes } : {}), done: done === layers,
  });
  return {
    onBytes: (n) => {
      bytes += n;
      report();
    },
    onLayerDone: () => {
      done++;
      report();
    },
  };
}
