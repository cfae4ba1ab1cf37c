// Operating errors of the CLI: each has an exit code (DESIGN.md: 2 bad input, 3 replay
// divergence, 4 infrastructure unavailable) and one sentence that says what to do. They are
// mapped to the process exit in one place (main.ts); anything else is a bug (exit 1).

export const EXIT = { ok: 0, bug: 1, badInput: 2, diverged: 3, unavailable: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.badInput,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}
