// The tool version recorded in every recording and summary and sent as the OTLP resource's
// service.version: the package version plus the hash of the sources it was built from
// (dist/build-info.json, written by scripts/postbuild.js), so a replay can tell two builds apart.
// Without a build (e.g. a unit test on fresh sources) it is the package version alone, marked
// "+unbuilt". It lives here because the trace builder (used by the aggregator and the CLI) needs it.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vpmu-lab' && pkg.version) {
        const info = path.join(dir, 'dist', 'build-info.json');
        if (!fs.existsSync(info)) return `${pkg.version}+unbuilt`;
        const { sourceHash } = JSON.parse(fs.readFileSync(info, 'utf8')) as { sourceHash?: string };
        return sourceHash ? `${pkg.version}+${sourceHash}` : pkg.version;
      }
    }
    dir = path.dirname(dir);
  }
  return '0.0.0-unknown';
}

export const TOOL_VERSION = findVersion();
