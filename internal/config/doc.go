// Package config turns process settings (environment, via go-envconfig) and the
// policy file (YAML) into plain, validated data.
//
// Invariants: nothing here opens a network connection or holds runtime state; a
// policy that LoadPolicy returns without error has passed every structural check
// (unknown keys, types, references between sections, URL and duration rules), and
// a refused file is reported with every problem at once, each with its key path
// (rules[2].audience) and line.
package config
