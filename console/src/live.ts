// Live pages without reloading: each page polls what it shows, one round at a time (the next starts after the
// last answered), paused while the tab is hidden and stopped when the page is left.

export interface PageContext {
  signal: AbortSignal;
  /** Runs `fn` now and again `ms` after each run finishes, until the page is left. */
  every(ms: number, fn: () => Promise<void>): void;
  /** Settles once the page's first round of reads has finished (or failed, or the page was left). */
  firstRound: Promise<void>;
}

export function context(signal: AbortSignal, onError: (e: unknown) => void): PageContext {
  let first: () => void = () => undefined;
  const firstRound = new Promise<void>((resolve) => (first = resolve));
  signal.addEventListener("abort", () => first());
  return {
    signal,
    firstRound,
    every(ms, fn) {
      let timer: number | undefined;
      const run = async () => {
        if (signal.aborted) return;
        if (!document.hidden) {
          try {
            await fn();
            onError(null);
          } catch (e) {
            if (!signal.aborted && !(e instanceof DOMException && e.name === "AbortError")) onError(e);
          }
          first();
        }
        if (!signal.aborted) timer = window.setTimeout(run, ms);
      };
      signal.addEventListener("abort", () => window.clearTimeout(timer));
      void run();
    },
  };
}
