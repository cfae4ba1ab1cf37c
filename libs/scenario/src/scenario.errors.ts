// Errors of an invalid scenario: each names where (path in the document, e.g.
// `vms[1].vpmu.mode`, and the 1-based line when known) and what to do about it.
// A bad scenario is an operating error (exit 2 in the CLI), never an exception.

export interface ScenarioError {
  /** Path in the document, e.g. `hosts[0].pcpus`; '' for the file as a whole. */
  path: string;
  message: string;
  /** 1-based line in the scenario text. */
  line?: number;
}

/**
 * One line per error: `file:line: path: message`. Without a file name the line reads
 * `line N: path: message`; parts that are unknown (line, path) are left out.
 */
export function formatScenarioErrors(errors: readonly ScenarioError[], fileName?: string): string {
  return errors
    .map((e) => {
      let where: string;
      if (fileName !== undefined && fileName !== '') {
        where = e.line !== undefined ? `${fileName}:${e.line}: ` : `${fileName}: `;
      } else {
        where = e.line !== undefined ? `line ${e.line}: ` : '';
      }
      const path = e.path !== '' ? `${e.path}: ` : '';
      return `${where}${path}${e.message}`;
    })
    .join('\n');
}
