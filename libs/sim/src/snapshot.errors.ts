// A checkpoint that cannot be written (model state that is not data) or read back (corrupt, or
// naming a class this tool version does not have).
export class SnapshotError extends Error {}
