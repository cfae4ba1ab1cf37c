// The tool version (package version + build hash): defined in libs/telemetry, which also sends it
// as the OTLP service.version.
export { TOOL_VERSION } from '@vpmu/telemetry';
