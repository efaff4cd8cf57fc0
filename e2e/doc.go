// Package e2e holds tokex's end-to-end tests: they build the real binary once,
// start it on a free loopback port with a policy file and keys written for the
// test, against fake upstream identity providers (internal/testidp), and talk
// HTTP to it as clients and downstream APIs would. Nothing here is imported by
// production code; the package has tests only.
package e2e
