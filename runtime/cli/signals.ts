// Where the CLI hears about signals sent to trun: this process's own in the cold path, or those
// the caller's front end relays to the warm path's server. Commands only see a forwarder.

/** The signals a foreground `run`/`exec` passes on to the container's process. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface SignalSource {
  on(signal: NodeJS.Signals, handler: () => void): void;
  off(signal: NodeJS.Signals, handler: () => void): void;
}

/** This process's signals (the cold path). */
export const processSignals: SignalSource = {
  on: (signal, handler) => { process.on(signal, handler); },
  off: (signal, handler) => { process.off(signal, handler); },
};

/** Subscribes `forward` to every forwarded signal; returns the unsubscribe function. */
export function forwardSignals(source: SignalSource, forward: (signal: NodeJS.Signals) => void): () => void {
  const handlers = FORWARDED_SIGNALS.map((s) => {
    const h = () => forward(s);
    source.on(s, h);
    return [s, h] as const;
  });
  return () => { for (const [s, h] of handlers) source.off(s, h); };
}
