// Package reload keeps a running tokex in step with its policy and keys files.
//
// It checks the files' contents (SHA-256) every interval and on SIGHUP, and
// reloads what changed: a policy is parsed, validated, compiled and swapped
// into the App as one value; a key set is parsed, validated and swapped the
// same way. Polling contents rather than watching inodes is deliberate: a
// Kubernetes ConfigMap or Secret volume updates by swapping a symlinked
// directory, which inode watchers miss or see twice, and a hash also ignores
// a touch that changes nothing.
//
// Invariants: a file that fails any check leaves what is running untouched
// (an error log and tokex.reloads{tokex.result="error"}); one goroutine does
// every reload, so two never interleave.
package reload
