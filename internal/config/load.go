package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Overrides are process settings that replace values of the policy file (SPEC §2).
type Overrides struct {
	Issuer string // TOKEX_ISSUER
	Keys   string // TOKEX_KEYS
}

// maxPolicyBytes bounds the policy file: a policy is human-written.
const maxPolicyBytes = 4 << 20

// LoadPolicyFile reads, parses and validates the policy file at path.
func LoadPolicyFile(path string, o Overrides) (*Policy, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	if st.Size() > maxPolicyBytes {
		return nil, &FileError{File: path, Problems: []Problem{{Msg: fmt.Sprintf("file is %d bytes; at most %d", st.Size(), maxPolicyBytes)}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	return ParsePolicy(data, path, o)
}

// ParsePolicy parses and validates a policy document. Unknown keys are errors: a
// typo must never silently drop a check. Every problem is reported at once.
func ParsePolicy(data []byte, file string, o Overrides) (*Policy, error) {
	notYAML := func(err error) error {
		return &FileError{File: file, Problems: []Problem{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, notYAML(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &FileError{File: file, Problems: []Problem{{Msg: "file is empty"}}}
	}
	// yaml.Unmarshal would silently ignore every document after the first; empty
	// ones (a trailing ---) are harmless.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, notYAML(err)
		}
		if len(next.Content) == 1 && next.Content[0].Kind == yaml.ScalarNode && next.Content[0].Tag == "!!null" {
			continue
		}
		return nil, &FileError{File: file, Problems: []Problem{{Line: next.Line, Msg: fmt.Sprintf("a second YAML document starts at line %d: a policy file holds exactly one", next.Line)}}}
	}
	lines := map[string]int{}
	ps := NewProblems(lines)
	budget := countNodes(doc.Content[0]) + maxAliasExpansion
	walk(doc.Content[0], reflect.TypeFor[Policy](), "", ps, lines, &budget)
	if budget < 0 {
		return nil, ps.Err(file) // an alias bomb: decoding would expand it
	}
	shape := ps.list
	p := &Policy{File: file, Lines: lines}
	if err := doc.Content[0].Decode(p); err != nil {
		// Type errors were reported with their paths by walk; decoding went on
		// past them (yaml.v3 does), so the semantic checks below still run.
		var te *yaml.TypeError
		if !errors.As(err, &te) || len(shape) == 0 {
			return nil, &FileError{File: file, Problems: []Problem{{Msg: err.Error()}}}
		}
	}
	p.resolveKeys()
	p.resolveIssuerFiles()
	if o.Issuer != "" {
		p.Issuer = o.Issuer
	}
	if o.Keys != "" {
		p.Keys = o.Keys
	}
	p.applyDefaults()
	err := p.Validate()
	if len(shape) == 0 {
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	// Report shape problems and every semantic problem not caused by one, so
	// an operator sees all that is wrong at once (a typo does not hide a bad
	// algorithm elsewhere).
	all := NewProblems(lines)
	all.list = append(all.list, shape...)
	var fe *FileError
	if errors.As(err, &fe) {
		for _, pr := range fe.Problems {
			if !underAny(pr.Path, shape) {
				all.list = append(all.list, pr)
			}
		}
	}
	return nil, all.Err(file)
}

// underAny reports whether path is at or below the path of one of ps.
func underAny(path string, ps []Problem) bool {
	for _, p := range ps {
		if p.Path == "" || path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

var durationType = reflect.TypeFor[Duration]()

// maxAliasExpansion bounds the nodes that YAML aliases may add to the walk. An
// alias is walked where it is used, so anchors that refer to anchors would
// otherwise let a small file cost quadratic time and memory.
const maxAliasExpansion = 100_000

// countNodes counts the nodes of the document as written (aliases not followed).
func countNodes(n *yaml.Node) int {
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch)
	}
	return c
}

// walk checks node n against Go type t before decoding, so that unknown keys
// and wrong shapes are reported with their key path instead of yaml's first error.
func walk(n *yaml.Node, t reflect.Type, path string, ps *Problems, lines map[string]int, budget *int) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem() // an optional value is checked as the value
	}
	if *budget--; *budget < 0 {
		if *budget == -1 {
			ps.Add(path, "YAML aliases expand to more than %d values; write the policy out", maxAliasExpansion)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		if _, ok := lines[path]; !ok {
			lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent; required values are checked by Validate
	}
	if t == durationType {
		if _, err := parseDuration(n); err != nil {
			ps.Add(path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			ps.Add(path, "must be a mapping of keys to values")
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := join(path, k.Value)
			lines[sub] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				if near := closest(k.Value, fields); near != "" {
					ps.Add(sub, "unknown key %q: did you mean %q?", k.Value, near)
				} else {
					ps.Add(sub, "unknown key %q (known keys: %s)", k.Value, strings.Join(sortedKeys(fields), ", "))
				}
				continue
			}
			if seen[k.Value] {
				ps.Add(sub, "key given twice")
				continue
			}
			seen[k.Value] = true
			walk(v, ft, sub, ps, lines, budget)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			ps.Add(path, "must be a list")
			return
		}
		for i, item := range n.Content {
			walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), ps, lines, budget)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			ps.Add(path, "must be a single value, not a list or mapping")
		}
	case reflect.Interface:
		// free-form (inline JWKS): checked by Validate
	default:
		ps.Add(path, "unsupported type %s", t)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]reflect.Type) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// closest is the known key within two edits of key, if exactly one is.
func closest(key string, known map[string]reflect.Type) string {
	found := ""
	for k := range known {
		if editDistance(key, k) <= 2 {
			if found != "" {
				return ""
			}
			found = k
		}
	}
	return found
}

// editDistance is the Levenshtein distance of two short keys.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
