// Package schema holds the JSON Schema (2020-12) of the policy file,
// policy.schema.json, for editors (yaml-language-server) and CI. Its tests keep
// it in step with the Go types of internal/config — every yaml key has a
// property and every property a key — and validate the example policies.
//
// The schema checks shapes and spellings; `tokex policy check` runs the full
// validation (references between sections, CEL, URLs, lifetimes).
package schema
