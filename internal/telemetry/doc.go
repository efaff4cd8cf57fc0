// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// variables and the JSON loggers (application and audit).
//
// Invariants: tracing is always on (spans are created, trace ids reach the audit
// log) but nothing is exported unless an exporter is configured; the audit log
// is written at every TOKEX_LOG_LEVEL, since turning down verbosity must never
// turn off the audit trail.
package telemetry
