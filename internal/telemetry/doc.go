// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// variables and the JSON loggers (application and audit).
//
// Invariants: trace context is always created (trace ids reach the audit
// log); spans are recorded and exported only when an exporter is configured
// (or a sampler is set explicitly); the audit log
// is written at every TOKEX_LOG_LEVEL, since turning down verbosity must never
// turn off the audit trail; buffered audit lines are written out before any
// later application line and by Loggers.Close, so only a crash loses them.
package telemetry
