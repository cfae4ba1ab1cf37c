// Where a command writes: injectable so tests capture output without spawning a process.
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  stderr: NodeJS.WriteStream;
}

export const processIo: CommandIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  stderr: process.stderr,
};
