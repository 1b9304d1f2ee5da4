/** The timed part of a load run, shared by the load generators: warm-up, measurement, stall watch, drain. */

const STALL_MS = 5000;
const DRAIN_MS = 10_000;

export interface LoadState {
  /** Requests sent and not answered yet. */
  outstanding(): number;
  /** performance.now() of the last reply. */
  lastProgress(): number;
  /** A failure found by the generator itself (bad reply, closed socket), if any. */
  failure(): string | undefined;
}

export interface PhaseHooks {
  /** Warm-up left before measuring starts (ms). */
  warmupMs: number;
  durationMs: number;
  onMeasureStart(): void;
  onMeasureEnd(): void;
}

/**
 * Wait out the warm-up, measure for durationMs, and stop early on a failure or when no reply
 * came for STALL_MS with requests outstanding. Resolves with the measured interval and the
 * failure, if any.
 */
export function runPhases(state: LoadState, hooks: PhaseHooks): Promise<{ tStart: number; tEnd: number; failure?: string }> {
  return new Promise((resolve) => {
    let tStart = 0;
    let tEnd = 0;
    let phase: NodeJS.Timeout | undefined;
    const end = (failure?: string) => {
      clearInterval(watchdog);
      clearTimeout(phase);
      resolve({ tStart, tEnd, failure });
    };
    const watchdog = setInterval(() => {
      const failure = state.failure();
      if (failure) return end(failure);
      if (state.outstanding() > 0 && performance.now() - state.lastProgress() > STALL_MS) {
        end(`no reply for ${STALL_MS} ms with ${state.outstanding()} requests outstanding`);
      }
    }, 100);
    phase = setTimeout(() => {
      tStart = performance.now();
      hooks.onMeasureStart();
      phase = setTimeout(() => {
        tEnd = performance.now();
        hooks.onMeasureEnd();
        end();
      }, hooks.durationMs);
    }, Math.max(0, hooks.warmupMs));
  });
}

/**
 * Wait (at most DRAIN_MS) for what is still in flight, so the next run starts on a quiet server.
 * `onIdle` installs the callback the generator calls when nothing is outstanding any more.
 * Resolves with a failure message if requests stayed unanswered.
 */
export async function drain(state: LoadState, onIdle: (callback: () => void) => void): Promise<string | undefined> {
  if (state.outstanding() === 0) return undefined;
  const drained = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), DRAIN_MS);
    onIdle(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  return drained ? undefined : `${state.outstanding()} requests still unanswered ${DRAIN_MS} ms after the run`;
}
