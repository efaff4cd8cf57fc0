package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a policy or key file.
type Problem struct {
	Path string // key path inside the file, e.g. rules[2].audience
	Line int    // 0 when unknown
	Msg  string
}

func (p Problem) String() string {
	switch {
	case p.Path == "":
		return p.Msg
	case p.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Path, p.Msg)
}

// FileError reports every problem found in one file.
type FileError struct {
	File     string
	Problems []Problem
}

func (e *FileError) Error() string {
	name := e.File
	if name == "" {
		name = "embedded policy"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem", name, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Problems collects problems with their lines.
type Problems struct {
	lines map[string]int
	list  []Problem
}

// NewProblems starts a list; lines may be nil.
func NewProblems(lines map[string]int) *Problems { return &Problems{lines: lines} }

// Add records a problem at path.
func (ps *Problems) Add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Line: ps.line(path), Msg: fmt.Sprintf(format, args...)})
}

// line finds the line of path or of its closest parent.
func (ps *Problems) line(path string) int {
	for p := path; p != ""; {
		if l, ok := ps.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// Len is the number of problems.
func (ps *Problems) Len() int { return len(ps.list) }

// Err returns a *FileError naming file, or nil when there is no problem.
func (ps *Problems) Err(file string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return &FileError{File: file, Problems: ps.list}
}
