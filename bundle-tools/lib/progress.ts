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
