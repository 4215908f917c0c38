/**
 * When a command that runs until interrupted (`watch`) stops: Ctrl-C (SIGINT), SIGTERM, or a reader of stdout
 * that went away. Each ends it cleanly (exit 0); the handlers are removed again when it ends, so the REPL's own
 * Ctrl-C handling is back for the next command.
 */
import type { IO } from '../io.js';

export interface Stopper {
  signal: AbortSignal;
  dispose(): void;
}

export function stopOnInterrupt(io: IO | undefined): Stopper {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const offClosed = io?.onStdoutClosed(stop);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      offClosed?.();
    },
  };
}
