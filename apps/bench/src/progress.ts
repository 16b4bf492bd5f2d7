import cliProgress from 'cli-progress';

/** Progress display of a benchmark invocation. */
export interface Progress {
  /** Starts the bar at 0 of `total` records. */
  start(total: number): void;
  /** Names the run in progress. */
  setRun(label: string): void;
  /** Adds `records` written. */
  advance(records: number): void;
  /** Prints a line without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

/**
 * A cli-progress bar on stderr when it is a terminal (and `enabled`); otherwise a silent bar whose
 * `log` still prints (to stderr), so piped output and tests stay readable.
 */
export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled || !stream.isTTY) {
    return {
      start() {},
      setRun() {},
      advance() {},
      log: (line) => {
        if (enabled) stream.write(`${line}\n`);
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      format: ' {bar} {percentage}% | {value}/{total} records | {duration_formatted} | {run}',
      hideCursor: true,
      stream,
      clearOnComplete: true,
      etaBuffer: 500,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let run = '';
  return {
    start(total) {
      bar = multi.create(total, 0, { run });
    },
    setRun(label) {
      run = label;
      bar?.update({ run });
    },
    advance(records) {
      bar?.increment(records, { run });
    },
    log(line) {
      multi.log(`${line}\n`);
    },
    stop() {
      multi.stop();
    },
  };
}
