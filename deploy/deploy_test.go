// Package deploy holds tests that keep the container image definition
// (../Dockerfile, ../.dockerignore) and the Kubernetes manifests (kubernetes/)
// honest. No container engine is needed: the Dockerfile's go build line is
// executed as written, and the manifests are checked structurally.
package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/internal/config"
)

const (
	dockerfilePath   = "../Dockerfile"
	dockerignorePath = "../.dockerignore"
	goModPath        = "../go.mod"
	repoRoot         = ".."
	manifestDir      = "kubernetes"

	testVersion = "test-1.2.3"
)

// isExample reports whether a manifest file is an example to apply by hand
// (name.example.yaml), which kustomization.yaml must not list.
func isExample(file string) bool {
	return strings.HasSuffix(file, ".example.yaml") || strings.HasSuffix(file, ".example.yml")
}

// ---------------------------------------------------------------------------
// Dockerfile parsing (the subset of the syntax this repository uses).

type instruction struct {
	cmd  string // upper-case keyword, e.g. RUN
	args string // the rest, line continuations joined
	line int    // first line, 1-based
}

type stage struct {
	index int
	from  string // image reference
	name  string // "AS name", may be empty
	instr []instruction
}

// parseDockerfile splits a Dockerfile into build stages. It handles comments,
// blank lines and backslash line continuations (with the default escape
// character); comment lines inside a continuation are skipped, as Docker does.
func parseDockerfile(t *testing.T, p string) []stage {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	var (
		stages  []stage
		pending strings.Builder
		start   int
	)
	flush := func() {
		text := strings.TrimSpace(pending.String())
		pending.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{index: len(stages)}
			// FROM [--platform=...] image [AS name]
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) > 0 {
				st.from = f[0]
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", p, in.line, in.cmd)
			}
			return // global ARG
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if pending.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			pending.WriteString(body)
			pending.WriteString(" ")
			continue
		}
		pending.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	flush()
	if len(stages) == 0 {
		t.Fatalf("%s: no FROM instruction", p)
	}
	return stages
}

var goBuildRE = regexp.MustCompile(`(^|[\s;&|(])go\s+build(\s|$)`)

// goBuildLine returns the single RUN instruction that runs `go build`, and the
// stage it is in. It fails the test unless there is exactly one.
func goBuildLine(t *testing.T, stages []stage) (instruction, stage) {
	t.Helper()
	var (
		found []instruction
		in    []stage
	)
	for _, st := range stages {
		for _, ins := range st.instr {
			if ins.cmd == "RUN" && goBuildRE.MatchString(ins.args) {
				found = append(found, ins)
				in = append(in, st)
			}
		}
	}
	if len(found) != 1 {
		var lines []string
		for _, f := range found {
			lines = append(lines, fmt.Sprintf("line %d: RUN %s", f.line, f.args))
		}
		t.Fatalf("Dockerfile: want exactly one RUN line with `go build`, found %d %v", len(found), lines)
	}
	return found[0], in[0]
}

var outputFlagRE = regexp.MustCompile(`(^|\s)-o\s+(\S+)`)

// outputPath returns the path given to `go build -o`, and the byte range it
// occupies in run.
func outputPath(run string) (string, [2]int, error) {
	m := outputFlagRE.FindAllStringSubmatchIndex(run, -1)
	if len(m) != 1 {
		return "", [2]int{}, fmt.Errorf("want exactly one `-o <path>` in %q, found %d", run, len(m))
	}
	return run[m[0][4]:m[0][5]], [2]int{m[0][4], m[0][5]}, nil
}

// goModGoVersion returns the `go` directive of go.mod.
func goModGoVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(goModPath)
	if err != nil {
		t.Fatalf("read %s: %v", goModPath, err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s: no go directive", goModPath)
	return ""
}

// versionAtLeast reports whether Go version have (1.26 or 1.26.8) satisfies
// want. A two-part image tag (golang:1.26) means the newest 1.26.x.
func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range w {
		if i >= len(h) {
			return true
		}
		hn, err1 := strconv.Atoi(h[i])
		wn, err2 := strconv.Atoi(w[i])
		if err1 != nil || err2 != nil {
			return false
		}
		if hn != wn {
			return hn > wn
		}
	}
	return true
}

func indexOf(st stage, match func(instruction) bool) int {
	return slices.IndexFunc(st.instr, match)
}

// ---------------------------------------------------------------------------
// .dockerignore: the build test compiles from a copy of the build context as
// Docker would send it, so an over-broad ignore pattern fails the test too.

type ignoreRule struct {
	segs   []string
	negate bool
}

func loadDockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	data, err := os.ReadFile(dockerignorePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dockerignorePath, err)
	}
	var rules []ignoreRule
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, strings.TrimSpace(rest)
		}
		line = path.Clean(strings.TrimPrefix(filepath.ToSlash(line), "/"))
		r.segs = strings.Split(line, "/")
		for _, s := range r.segs {
			if _, err := path.Match(s, ""); err != nil {
				t.Fatalf("%s: bad pattern %q: %v", dockerignorePath, line, err)
			}
		}
		rules = append(rules, r)
	}
	return rules
}

// matchSegs matches path segments against pattern segments; "**" matches any
// number of segments, other segments use path.Match.
func matchSegs(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegs(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	if ok, _ := path.Match(pat[0], name[0]); !ok {
		return false
	}
	return matchSegs(pat[1:], name[1:])
}

// ignored follows Docker's rules: the last matching pattern wins, and a
// pattern matching a directory also matches everything below it.
func ignored(rules []ignoreRule, rel string) bool {
	segs := strings.Split(rel, "/")
	out := false
	for _, r := range rules {
		for i := len(segs); i > 0; i-- {
			if matchSegs(r.segs, segs[:i]) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

// copyBuildContext copies the repository into dst, leaving out what
// .dockerignore excludes.
func copyBuildContext(t *testing.T, src, dst string) {
	t.Helper()
	rules := loadDockerignore(t)
	hasNegation := slices.ContainsFunc(rules, func(r ignoreRule) bool { return r.negate })
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if ignored(rules, rel) {
			if d.IsDir() && !hasNegation {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		default:
			return nil // symlinks, sockets, ...: not part of a Go build
		}
	})
	if err != nil {
		t.Fatalf("copy build context: %v", err)
	}
}

// ---------------------------------------------------------------------------
// ELF checks.

// elfLinkage is what makes an ELF executable dynamic.
type elfLinkage struct {
	interp []string // PT_INTERP program headers (their contents: the loader)
	needed []string // DT_NEEDED entries (shared libraries)
}

func readELFLinkage(p string) (elfLinkage, error) {
	var l elfLinkage
	f, err := elf.Open(p)
	if err != nil {
		return l, err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(prog.Open())
			l.interp = append(l.interp, strings.TrimRight(string(b), "\x00"))
		}
	}
	if l.needed, err = f.DynString(elf.DT_NEEDED); err != nil {
		return l, fmt.Errorf("read DT_NEEDED: %w", err)
	}
	return l, nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ---------------------------------------------------------------------------

func TestDockerfileBuildsStaticBinary(t *testing.T) {
	stages := parseDockerfile(t, dockerfilePath)
	run, build := goBuildLine(t, stages)
	final := stages[len(stages)-1]

	checks := []struct {
		name  string
		check func() error
	}{
		{"shell form", func() error {
			if strings.HasPrefix(run.args, "[") {
				return errors.New("the go build RUN line must be shell form, so ${VERSION} is expanded")
			}
			return nil
		}},
		{"CGO_ENABLED=0", func() error {
			// Leading environment assignments of the command.
			for _, f := range strings.Fields(run.args) {
				if f == "CGO_ENABLED=0" {
					return nil
				}
				if !strings.Contains(f, "=") || strings.HasPrefix(f, "-") {
					break
				}
			}
			return fmt.Errorf("go build line does not start with CGO_ENABLED=0: %q", run.args)
		}},
		{"stamps main.version from VERSION", func() error {
			if !strings.Contains(run.args, "-X main.version=${VERSION}") && !strings.Contains(run.args, "-X main.version=$VERSION") {
				return fmt.Errorf("go build line does not pass -X main.version=${VERSION}: %q", run.args)
			}
			return nil
		}},
		{"trimpath", func() error {
			if !slices.Contains(strings.Fields(run.args), "-trimpath") {
				return fmt.Errorf("go build line lacks -trimpath: %q", run.args)
			}
			return nil
		}},
		{"without gin's msgpack codec", func() error {
			f := strings.Fields(run.args)
			if i := slices.Index(f, "-tags"); i < 0 || i+1 >= len(f) || !slices.Contains(strings.Split(f[i+1], ","), "nomsgpack") {
				return fmt.Errorf("go build line lacks -tags nomsgpack: %q", run.args)
			}
			return nil
		}},
		{"builds ./cmd/tokex", func() error {
			f := strings.Fields(run.args)
			if len(f) == 0 || f[len(f)-1] != "./cmd/tokex" {
				return fmt.Errorf("go build line does not end in ./cmd/tokex: %q", run.args)
			}
			return nil
		}},
		{"ARG VERSION declared in the build stage", func() error {
			// An ARG before the first FROM is not visible inside a stage
			// unless redeclared there, so look in the build stage only.
			argAt := indexOf(build, func(in instruction) bool {
				return in.cmd == "ARG" && (in.args == "VERSION" || strings.HasPrefix(in.args, "VERSION="))
			})
			runAt := indexOf(build, func(in instruction) bool { return in.line == run.line })
			if argAt < 0 || argAt > runAt {
				return errors.New("no `ARG VERSION` in the build stage before the go build line")
			}
			return nil
		}},
		{"module download cached before sources", func() error {
			modCopy := indexOf(build, func(in instruction) bool {
				f := strings.Fields(in.args)
				return in.cmd == "COPY" && slices.Contains(f, "go.mod") && slices.Contains(f, "go.sum") && !slices.Contains(f, ".")
			})
			download := indexOf(build, func(in instruction) bool {
				return in.cmd == "RUN" && strings.Contains(in.args, "go mod download")
			})
			srcCopy := indexOf(build, func(in instruction) bool {
				f := strings.Fields(in.args)
				return in.cmd == "COPY" && len(f) >= 2 && f[0] == "."
			})
			runAt := indexOf(build, func(in instruction) bool { return in.line == run.line })
			if modCopy < 0 || download < 0 || srcCopy < 0 || !(modCopy < download && download < srcCopy && srcCopy < runAt) {
				return fmt.Errorf("build stage must COPY go.mod go.sum, RUN go mod download, COPY . ., then build (positions %d, %d, %d, %d)",
					modCopy, download, srcCopy, runAt)
			}
			return nil
		}},
		{"build image Go satisfies go.mod", func() error {
			m := regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(\d+\.\d+(?:\.\d+)?)`).FindStringSubmatch(build.from)
			if m == nil {
				return fmt.Errorf("build stage FROM %q is not a versioned golang image", build.from)
			}
			if want := goModGoVersion(t); !versionAtLeast(m[1], want) {
				return fmt.Errorf("build image Go %s is older than go.mod's go %s (the build would download a toolchain or fail)", m[1], want)
			}
			return nil
		}},
		{"final stage copies the built binary", func() error {
			out, _, err := outputPath(run.args)
			if err != nil {
				return err
			}
			for _, in := range final.instr {
				f := strings.Fields(in.args)
				if in.cmd != "COPY" || len(f) != 3 {
					continue
				}
				from, ok := strings.CutPrefix(f[0], "--from=")
				if ok && (from == build.name || from == strconv.Itoa(build.index)) && f[1] == out {
					return nil
				}
			}
			return fmt.Errorf("final stage has no `COPY --from=%s %s <dest>`", build.name, out)
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("build", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the binary; skipped with -short")
		}
		if runtime.GOOS != "linux" {
			// The image is a Linux image; debug/elf checks need an ELF binary
			// that can also run here.
			t.Skipf("static ELF check needs a linux host, have %s", runtime.GOOS)
		}
		_, span, err := outputPath(run.args)
		if err != nil {
			t.Fatal(err)
		}
		tmp := t.TempDir()
		ctxDir := filepath.Join(tmp, "src") // WORKDIR /src; COPY . .
		bin := filepath.Join(tmp, "out", "tokex")
		copyBuildContext(t, repoRoot, ctxDir)
		for _, need := range []string{"go.mod", "go.sum", "cmd/tokex"} {
			if _, err := os.Stat(filepath.Join(ctxDir, need)); err != nil {
				t.Fatalf(".dockerignore drops %s from the build context", need)
			}
		}

		// Run the Dockerfile line as Docker's shell form does: /bin/sh -c,
		// with the build ARG in the environment. Only the output path is
		// replaced. CGO_ENABLED, GOOS, GOARCH and GOFLAGS come from the line
		// (or the golang image's defaults), not from the caller.
		cmdline := run.args[:span[0]] + shellQuote(bin) + run.args[span[1]:]
		cmd := exec.CommandContext(t.Context(), "/bin/sh", "-c", cmdline)
		cmd.Dir = ctxDir
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			name, _, _ := strings.Cut(kv, "=")
			return slices.Contains([]string{"VERSION", "CGO_ENABLED", "GOOS", "GOARCH", "GOFLAGS"}, name)
		}), "VERSION="+testVersion)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("RUN %s\n(as: %s)\nfailed: %v\n%s", run.args, cmdline, err, b)
		}

		link, err := readELFLinkage(bin)
		if err != nil {
			t.Fatalf("inspect %s: %v", bin, err)
		}
		elfChecks := []struct {
			name  string
			found []string
			what  string
		}{
			{"no PT_INTERP", link.interp, "a PT_INTERP program header (dynamic loader)"},
			{"no DT_NEEDED", link.needed, "DT_NEEDED entries (shared libraries)"},
		}
		for _, c := range elfChecks {
			t.Run(c.name, func(t *testing.T) {
				if len(c.found) > 0 {
					t.Errorf("binary is not static: it has %s %q", c.what, c.found)
				}
			})
		}

		t.Run("version", func(t *testing.T) {
			b, err := exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s version: %v\n%s", bin, err, b)
			}
			if got, want := strings.TrimSpace(string(b)), "tokex "+testVersion; got != want {
				t.Errorf("version output = %q, want %q", got, want)
			}
		})
	})
}

func TestDockerfileRuntime(t *testing.T) {
	stages := parseDockerfile(t, dockerfilePath)
	final := stages[len(stages)-1]

	last := func(cmd string) (instruction, bool) {
		for i := len(final.instr) - 1; i >= 0; i-- {
			if final.instr[i].cmd == cmd {
				return final.instr[i], true
			}
		}
		return instruction{}, false
	}
	execForm := func(cmd string) ([]string, error) {
		in, ok := last(cmd)
		if !ok {
			return nil, fmt.Errorf("final stage has no %s", cmd)
		}
		var argv []string
		if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
			return nil, fmt.Errorf("%s %s: want exec (JSON array) form, the runtime image has no shell: %v", cmd, in.args, err)
		}
		return argv, nil
	}

	tests := []struct {
		name  string
		check func() error
	}{
		{"FROM distroless static nonroot", func() error {
			re := regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot(@sha256:[0-9a-f]{64})?$`)
			if !re.MatchString(final.from) {
				return fmt.Errorf("final stage FROM %q, want gcr.io/distroless/static-debian12:nonroot", final.from)
			}
			return nil
		}},
		{"USER non-root and numeric", func() error {
			in, ok := last("USER")
			if !ok {
				return errors.New("final stage sets no USER")
			}
			user, group, _ := strings.Cut(in.args, ":")
			// Kubernetes can only enforce runAsNonRoot for a numeric USER.
			uid, err := strconv.Atoi(user)
			if err != nil {
				return fmt.Errorf("USER %q: want a numeric uid (Kubernetes cannot verify runAsNonRoot for a name)", in.args)
			}
			if uid == 0 {
				return fmt.Errorf("USER %q runs as root", in.args)
			}
			if group == "0" || group == "root" {
				return fmt.Errorf("USER %q uses the root group", in.args)
			}
			return nil
		}},
		{"ENTRYPOINT /tokex", func() error {
			argv, err := execForm("ENTRYPOINT")
			if err != nil {
				return err
			}
			if len(argv) != 1 || argv[0] != "/tokex" {
				return fmt.Errorf("ENTRYPOINT %q, want [\"/tokex\"]", argv)
			}
			return nil
		}},
		{"CMD serve", func() error {
			argv, err := execForm("CMD")
			if err != nil {
				return err
			}
			if !slices.Equal(argv, []string{"serve"}) {
				return fmt.Errorf("CMD %q, want [\"serve\"]", argv)
			}
			return nil
		}},
		{"binary at /tokex", func() error {
			for _, in := range final.instr {
				f := strings.Fields(in.args)
				if in.cmd == "COPY" && len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[2] == "/tokex" {
					return nil
				}
			}
			return errors.New("final stage does not COPY --from=<build> ... /tokex")
		}},
		{"EXPOSE 8080", func() error {
			in, ok := last("EXPOSE")
			if !ok || !slices.ContainsFunc(strings.Fields(in.args), func(p string) bool { return p == "8080" || p == "8080/tcp" }) {
				return errors.New("final stage does not EXPOSE 8080")
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Kubernetes manifests: only the fields the tests look at.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	RunAsGroup               *int64 `yaml:"runAsGroup"`
	FSGroup                  *int64 `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool  `yaml:"privileged"`
	Capabilities             *struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile *seccompProfile `yaml:"seccompProfile"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type keyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string         `yaml:"name"`
		Value     string         `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	} `yaml:"env"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string      `yaml:"name"`
		Items []keyToPath `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName  string      `yaml:"secretName"`
		DefaultMode *int        `yaml:"defaultMode"`
		Items       []keyToPath `yaml:"items"`
	} `yaml:"secret"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type podAffinityTerm struct {
	TopologyKey   string        `yaml:"topologyKey"`
	LabelSelector labelSelector `yaml:"labelSelector"`
}

type affinity struct {
	PodAntiAffinity *struct {
		Preferred []struct {
			Weight          int             `yaml:"weight"`
			PodAffinityTerm podAffinityTerm `yaml:"podAffinityTerm"`
		} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
		Required []podAffinityTerm `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
	} `yaml:"podAntiAffinity"`
}

type topologySpreadConstraint struct {
	MaxSkew           int           `yaml:"maxSkew"`
	TopologyKey       string        `yaml:"topologyKey"`
	WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
	LabelSelector     labelSelector `yaml:"labelSelector"`
}

type deployment struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				AutomountServiceAccountToken *bool                      `yaml:"automountServiceAccountToken"`
				SecurityContext              *securityContext           `yaml:"securityContext"`
				TopologySpreadConstraints    []topologySpreadConstraint `yaml:"topologySpreadConstraints"`
				Affinity                     *affinity                  `yaml:"affinity"`
				Containers                   []container                `yaml:"containers"`
				Volumes                      []volume                   `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type configMap struct {
	Metadata objectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type secret struct {
	Metadata   objectMeta        `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type kustomization struct {
	Resources []string `yaml:"resources"`
}

type hpa struct {
	APIVersion string     `yaml:"apiVersion"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas *int `yaml:"minReplicas"`
		MaxReplicas int  `yaml:"maxReplicas"`
		Metrics     []struct {
			Type     string `yaml:"type"`
			Resource *struct {
				Name   string `yaml:"name"`
				Target struct {
					Type               string `yaml:"type"`
					AverageUtilization *int   `yaml:"averageUtilization"`
				} `yaml:"target"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type pdb struct {
	APIVersion string     `yaml:"apiVersion"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		MinAvailable   any           `yaml:"minAvailable"`
		MaxUnavailable any           `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type networkPolicyPort struct {
	Port     any    `yaml:"port"`
	Protocol string `yaml:"protocol"`
}

type networkPolicyRule struct {
	Ports []networkPolicyPort `yaml:"ports"`
	From  []map[string]any    `yaml:"from"`
	To    []map[string]any    `yaml:"to"`
}

type networkPolicy struct {
	APIVersion string     `yaml:"apiVersion"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		PodSelector labelSelector       `yaml:"podSelector"`
		PolicyTypes []string            `yaml:"policyTypes"`
		Ingress     []networkPolicyRule `yaml:"ingress"`
		Egress      []networkPolicyRule `yaml:"egress"`
	} `yaml:"spec"`
}

type serviceMonitor struct {
	APIVersion string     `yaml:"apiVersion"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Selector  labelSelector `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type policyIssuer struct {
	Name      string `yaml:"name"`
	IssuerURL string `yaml:"issuer_url"`
}

type policyClient struct {
	ID           string `yaml:"id"`
	SecretSHA256 string `yaml:"secret_sha256"`
}

// policy is the subset of the SPEC §3 policy file the tests check.
type policy struct {
	Issuer  string         `yaml:"issuer"`
	Keys    string         `yaml:"keys"`
	Issuers []policyIssuer `yaml:"issuers"`
	Clients []policyClient `yaml:"clients"`
	Rules   []struct {
		Name     string   `yaml:"name"`
		Clients  []string `yaml:"clients"`
		Issuers  []string `yaml:"issuers"`
		Audience string   `yaml:"audience"`
		Scopes   []string `yaml:"scopes"`
	} `yaml:"rules"`
}

type document struct {
	file       string
	apiVersion string
	kind       string
	node       *yaml.Node
}

// loadManifests decodes every document of every YAML file in dir.
func loadManifests(t *testing.T, dir string) (docs []document, files []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || (path.Ext(e.Name()) != ".yaml" && path.Ext(e.Name()) != ".yml") {
			continue
		}
		files = append(files, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeDocuments(e.Name(), data)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d...)
	}
	return docs, files
}

// decodeDocuments decodes the documents of a multi-document YAML stream
// (a manifest file, or helm template's output), skipping empty ones. Every
// other document must have apiVersion and kind.
func decodeDocuments(name string, data []byte) ([]document, error) {
	var docs []document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", name, i, err)
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := n.Decode(&head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", name, i, err)
		}
		if head.Kind == "" && head.APIVersion == "" {
			continue // empty document ("---" with only comments)
		}
		if head.Kind == "" || head.APIVersion == "" {
			return nil, fmt.Errorf("%s: document %d lacks apiVersion or kind", name, i)
		}
		docs = append(docs, document{file: name, apiVersion: head.APIVersion, kind: head.Kind, node: &n})
	}
	return docs, nil
}

// only decodes the single document of the given kind into out.
func only(docs []document, kind string, out any) error {
	var found []document
	for _, d := range docs {
		if d.kind == kind {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return fmt.Errorf("want exactly one %s, found %d", kind, len(found))
	}
	if err := found[0].node.Decode(out); err != nil {
		return fmt.Errorf("%s in %s: %v", kind, found[0].file, err)
	}
	return nil
}

// show formats an optional value.
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func envValue(c container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// effective returns the container's value if set, else the pod's.
func effective[T any](ctr, pod *securityContext, get func(*securityContext) *T) *T {
	if ctr != nil {
		if v := get(ctr); v != nil {
			return v
		}
	}
	if pod != nil {
		return get(pod)
	}
	return nil
}

// mountedFile returns the path inside the container at which key of the
// volume selected by pick appears.
func mountedFile(d deployment, c container, pick func(volume) ([]keyToPath, bool), key string) (string, error) {
	for _, v := range d.Spec.Template.Spec.Volumes {
		items, ok := pick(v)
		if !ok {
			continue
		}
		file := key
		if len(items) > 0 {
			file = ""
			for _, it := range items {
				if it.Key == key {
					file = it.Path
				}
			}
			if file == "" {
				return "", fmt.Errorf("volume %s does not project key %s", v.Name, key)
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && m.SubPath == "" {
				return path.Join(m.MountPath, file), nil
			}
		}
		return "", fmt.Errorf("volume %s is not mounted in container %s", v.Name, c.Name)
	}
	return "", errors.New("no such volume")
}

// selects reports whether the non-empty selector sel matches labels.
func selects(what string, sel, labels map[string]string) error {
	if len(sel) == 0 {
		return fmt.Errorf("%s: empty selector", what)
	}
	for k, v := range sel {
		if labels[k] != v {
			return fmt.Errorf("%s: selector %s=%s does not match the labels %v", what, k, v, labels)
		}
	}
	return nil
}

// checkSpread checks that the pods spread over nodes and zones as a
// preference (a one-node or one-zone cluster must still run every replica)
// and prefer not to share a node.
func checkSpread(dep deployment) error {
	pod := dep.Spec.Template.Spec
	labels := dep.Spec.Template.Metadata.Labels
	var errs []error
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		i := slices.IndexFunc(pod.TopologySpreadConstraints, func(c topologySpreadConstraint) bool { return c.TopologyKey == key })
		if i < 0 {
			errs = append(errs, fmt.Errorf("no topologySpreadConstraint on %s", key))
			continue
		}
		c := pod.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != "ScheduleAnyway" {
			errs = append(errs, fmt.Errorf("topologySpreadConstraint %s: whenUnsatisfiable %q, want ScheduleAnyway", key, c.WhenUnsatisfiable))
		}
		if c.MaxSkew < 1 {
			errs = append(errs, fmt.Errorf("topologySpreadConstraint %s: maxSkew %d", key, c.MaxSkew))
		}
		if err := selects("topologySpreadConstraint "+key, c.LabelSelector.MatchLabels, labels); err != nil {
			errs = append(errs, err)
		}
	}
	a := pod.Affinity
	switch {
	case a == nil || a.PodAntiAffinity == nil:
		errs = append(errs, errors.New("no podAntiAffinity"))
	case len(a.PodAntiAffinity.Required) > 0:
		errs = append(errs, errors.New("required podAntiAffinity: replicas beyond the number of nodes would stay Pending; want preferred"))
	case !slices.ContainsFunc(a.PodAntiAffinity.Preferred, func(p struct {
		Weight          int             `yaml:"weight"`
		PodAffinityTerm podAffinityTerm `yaml:"podAffinityTerm"`
	}) bool {
		return p.Weight > 0 && p.PodAffinityTerm.TopologyKey == "kubernetes.io/hostname" &&
			selects("", p.PodAffinityTerm.LabelSelector.MatchLabels, labels) == nil
	}):
		errs = append(errs, errors.New("no preferred podAntiAffinity term on kubernetes.io/hostname that selects the pods"))
	}
	return errors.Join(errs...)
}

// checkHPA checks that h scales dep on CPU utilisation between wantMin and wantMax.
func checkHPA(h hpa, dep deployment, wantMin, wantMax, wantCPU int) error {
	var errs []error
	if h.APIVersion != "autoscaling/v2" {
		errs = append(errs, fmt.Errorf("HPA apiVersion %s, want autoscaling/v2", h.APIVersion))
	}
	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != dep.Metadata.Name {
		errs = append(errs, fmt.Errorf("HPA scales %s %s/%s, want apps/v1 Deployment/%s", ref.APIVersion, ref.Kind, ref.Name, dep.Metadata.Name))
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != wantMin {
		errs = append(errs, fmt.Errorf("HPA minReplicas %s, want %d", show(h.Spec.MinReplicas), wantMin))
	}
	if h.Spec.MaxReplicas != wantMax {
		errs = append(errs, fmt.Errorf("HPA maxReplicas %d, want %d", h.Spec.MaxReplicas, wantMax))
	}
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Type != "Resource" || h.Spec.Metrics[0].Resource == nil ||
		h.Spec.Metrics[0].Resource.Name != "cpu" || h.Spec.Metrics[0].Resource.Target.Type != "Utilization" ||
		h.Spec.Metrics[0].Resource.Target.AverageUtilization == nil || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != wantCPU {
		errs = append(errs, fmt.Errorf("HPA metrics %+v, want one: cpu Utilization %d%%", h.Spec.Metrics, wantCPU))
	}
	// Utilization is relative to the request: without one the HPA does nothing.
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Resources.Requests["cpu"] == "" {
			errs = append(errs, fmt.Errorf("container %s has no cpu request, which the HPA's utilisation is relative to", c.Name))
		}
	}
	return errors.Join(errs...)
}

// checkPDB checks that p keeps wantMin pods of dep available, below replicas
// so that a node drain can still evict one.
func checkPDB(p pdb, dep deployment, wantMin, replicas int) error {
	var errs []error
	if p.APIVersion != "policy/v1" {
		errs = append(errs, fmt.Errorf("PDB apiVersion %s, want policy/v1", p.APIVersion))
	}
	if p.Spec.MaxUnavailable != nil {
		errs = append(errs, fmt.Errorf("PDB sets maxUnavailable %v, want only minAvailable", p.Spec.MaxUnavailable))
	}
	if n, ok := p.Spec.MinAvailable.(int); !ok || n != wantMin {
		errs = append(errs, fmt.Errorf("PDB minAvailable %v, want %d", p.Spec.MinAvailable, wantMin))
	} else if n >= replicas {
		errs = append(errs, fmt.Errorf("PDB minAvailable %d is not below the %d replicas: no pod could ever be evicted", n, replicas))
	}
	if err := selects("PDB", p.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resolvePort resolves a Service or NetworkPolicy port (a name or a number) to
// the name of the container port, or the number itself if none has it.
func resolvePort(c container, port any) string {
	switch v := port.(type) {
	case string:
		return v
	case int:
		for _, p := range c.Ports {
			if p.ContainerPort == v {
				return p.Name
			}
		}
	}
	return fmt.Sprint(port)
}

// checkNetworkPolicy checks that np selects dep's pods, admits ingress to
// exactly the named container ports wantIngress, and allows egress to DNS
// and HTTPS, every rule naming its ports.
func checkNetworkPolicy(np networkPolicy, dep deployment, wantIngress []string) error {
	var errs []error
	if np.APIVersion != "networking.k8s.io/v1" {
		errs = append(errs, fmt.Errorf("NetworkPolicy apiVersion %s", np.APIVersion))
	}
	if err := selects("NetworkPolicy podSelector", np.Spec.PodSelector.MatchLabels, dep.Spec.Template.Metadata.Labels); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
		errs = append(errs, fmt.Errorf("NetworkPolicy policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes))
	}
	var ctr container
	if cs := dep.Spec.Template.Spec.Containers; len(cs) > 0 {
		ctr = cs[0]
	}
	proto := func(p networkPolicyPort) string {
		if p.Protocol == "" {
			return "TCP"
		}
		return p.Protocol
	}
	admitted := map[string]bool{}
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			errs = append(errs, fmt.Errorf("ingress[%d] names no ports, so it admits every port", i))
		}
		for _, p := range r.Ports {
			name := resolvePort(ctr, p.Port)
			if !slices.Contains(wantIngress, name) || proto(p) != "TCP" {
				errs = append(errs, fmt.Errorf("ingress[%d] admits %v/%s, want only %v", i, p.Port, proto(p), wantIngress))
			}
			admitted[name] = true
		}
	}
	for _, w := range wantIngress {
		if !admitted[w] {
			errs = append(errs, fmt.Errorf("no ingress rule admits port %s", w))
		}
	}
	allowed := map[string]bool{}
	for i, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			errs = append(errs, fmt.Errorf("egress[%d] names no ports, so it allows every port", i))
		}
		for _, p := range r.Ports {
			allowed[fmt.Sprintf("%v/%s", p.Port, proto(p))] = true
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", "443/TCP"} {
		if !allowed[want] {
			errs = append(errs, fmt.Errorf("no egress rule allows %s", want))
		}
	}
	return errors.Join(errs...)
}

func TestKubernetesManifests(t *testing.T) {
	all, files := loadManifests(t, manifestDir)
	// *.example.yaml files are examples to apply by hand, not part of the
	// kustomization (README.md says why).
	var docs, examples []document
	for _, d := range all {
		if isExample(d.file) {
			examples = append(examples, d)
		} else {
			docs = append(docs, d)
		}
	}

	var (
		dep  deployment
		svc  service
		cm   configMap
		sec  secret
		kust kustomization
		as   hpa
		bud  pdb
		np   networkPolicy
	)
	for _, k := range []struct {
		kind string
		out  any
	}{
		{"Deployment", &dep}, {"Service", &svc}, {"ConfigMap", &cm}, {"Secret", &sec}, {"Kustomization", &kust},
		{"HorizontalPodAutoscaler", &as}, {"PodDisruptionBudget", &bud}, {"NetworkPolicy", &np},
	} {
		t.Run("kind "+k.kind, func(t *testing.T) {
			if err := only(docs, k.kind, k.out); err != nil {
				t.Error(err)
			}
		})
	}
	if t.Failed() {
		t.FailNow()
	}

	pod := dep.Spec.Template.Spec
	var ctr container
	if len(pod.Containers) == 1 {
		ctr = pod.Containers[0]
	}
	podSC, ctrSC := pod.SecurityContext, ctr.SecurityContext
	// Probes go to the admin listener (TOKEX_ADMIN_ADDR), off the public port.
	portName, adminPort := "", ""
	for _, p := range ctr.Ports {
		switch p.ContainerPort {
		case 8080:
			portName = p.Name
		case 9090:
			adminPort = p.Name
		}
	}
	if v, _ := envValue(ctr, "TOKEX_ADMIN_ADDR"); v != ":9090" {
		adminPort = "(TOKEX_ADMIN_ADDR is " + strconv.Quote(v) + ", want \":9090\")"
	}
	probeCheck := func(name string, p *probe, wantPath string) error {
		switch {
		case p == nil || p.HTTPGet == nil:
			return fmt.Errorf("%s: no httpGet probe", name)
		case p.HTTPGet.Path != wantPath:
			return fmt.Errorf("%s: path %q, want %q", name, p.HTTPGet.Path, wantPath)
		case p.HTTPGet.Port != adminPort:
			return fmt.Errorf("%s: port %v, want the named admin port %q", name, p.HTTPGet.Port, adminPort)
		}
		return nil
	}
	wantTrue := func(name string, v *bool) error {
		if v == nil || !*v {
			return fmt.Errorf("%s is not true", name)
		}
		return nil
	}
	wantFalse := func(name string, v *bool) error {
		if v == nil || *v {
			return fmt.Errorf("%s is not explicitly false", name)
		}
		return nil
	}

	var pol policy
	policyErr := func() error {
		raw, ok := cm.Data["policy.yaml"]
		if !ok {
			return errors.New("ConfigMap has no policy.yaml")
		}
		if err := yaml.Unmarshal([]byte(raw), &pol); err != nil {
			return fmt.Errorf("policy.yaml: %v", err)
		}
		return nil
	}()

	tests := []struct {
		name  string
		check func() error
	}{
		// Deployment
		{"deployment has 3+ replicas", func() error {
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 3 {
				return fmt.Errorf("replicas %s, want at least 3", show(dep.Spec.Replicas))
			}
			return nil
		}},
		{"pods spread over nodes and zones", func() error { return checkSpread(dep) }},
		{"deployment selector matches pod labels", func() error {
			sel := dep.Spec.Selector.MatchLabels
			if len(sel) == 0 {
				return errors.New("empty selector")
			}
			for k, v := range sel {
				if dep.Spec.Template.Metadata.Labels[k] != v {
					return fmt.Errorf("selector %s=%s not on the pod template", k, v)
				}
			}
			return nil
		}},
		{"one container with an image", func() error {
			if len(pod.Containers) != 1 {
				return fmt.Errorf("want 1 container, found %d", len(pod.Containers))
			}
			if ctr.Image == "" {
				return errors.New("container has no image")
			}
			return nil
		}},
		{"named container port 8080", func() error {
			if portName == "" {
				return errors.New("no named container port 8080")
			}
			return nil
		}},
		{"liveness probe /healthz", func() error { return probeCheck("livenessProbe", ctr.LivenessProbe, "/healthz") }},
		{"readiness probe /readyz", func() error { return probeCheck("readinessProbe", ctr.ReadinessProbe, "/readyz") }},
		{"startup probe, if any, /healthz", func() error {
			if ctr.StartupProbe == nil {
				return nil
			}
			return probeCheck("startupProbe", ctr.StartupProbe, "/healthz")
		}},
		{"runAsNonRoot", func() error {
			return wantTrue("runAsNonRoot", effective(ctrSC, podSC, func(s *securityContext) *bool { return s.RunAsNonRoot }))
		}},
		{"runAsUser non-zero", func() error {
			uid := effective(ctrSC, podSC, func(s *securityContext) *int64 { return s.RunAsUser })
			if uid == nil || *uid == 0 {
				return fmt.Errorf("runAsUser %s, want the image's non-root uid 65532", show(uid))
			}
			return nil
		}},
		{"readOnlyRootFilesystem", func() error {
			return wantTrue("readOnlyRootFilesystem", effective(ctrSC, nil, func(s *securityContext) *bool { return s.ReadOnlyRootFilesystem }))
		}},
		{"allowPrivilegeEscalation false", func() error {
			return wantFalse("allowPrivilegeEscalation", effective(ctrSC, nil, func(s *securityContext) *bool { return s.AllowPrivilegeEscalation }))
		}},
		{"capabilities drop ALL", func() error {
			if ctrSC == nil || ctrSC.Capabilities == nil || !slices.Contains(ctrSC.Capabilities.Drop, "ALL") || len(ctrSC.Capabilities.Add) > 0 {
				return errors.New("container must drop ALL capabilities and add none")
			}
			return nil
		}},
		{"seccomp RuntimeDefault", func() error {
			sp := effective(ctrSC, podSC, func(s *securityContext) *seccompProfile { return s.SeccompProfile })
			if sp == nil || sp.Type != "RuntimeDefault" {
				return errors.New("seccompProfile is not RuntimeDefault")
			}
			return nil
		}},
		{"resources requests and memory limit", func() error {
			r := ctr.Resources
			if r.Requests["cpu"] == "" || r.Requests["memory"] == "" {
				return fmt.Errorf("resources.requests %v, want cpu and memory", r.Requests)
			}
			if r.Limits["memory"] == "" {
				return fmt.Errorf("resources.limits %v, want memory", r.Limits)
			}
			return nil
		}},
		{"TOKEX_CONFIG is the mounted policy", func() error {
			want, err := mountedFile(dep, ctr, func(v volume) ([]keyToPath, bool) {
				if v.ConfigMap == nil || v.ConfigMap.Name != cm.Metadata.Name {
					return nil, false
				}
				return v.ConfigMap.Items, true
			}, "policy.yaml")
			if err != nil {
				return fmt.Errorf("ConfigMap %s: %v", cm.Metadata.Name, err)
			}
			if got, _ := envValue(ctr, "TOKEX_CONFIG"); got != want {
				return fmt.Errorf("TOKEX_CONFIG=%q, but the policy is mounted at %q", got, want)
			}
			return nil
		}},
		{"TOKEX_KEYS is the mounted Secret", func() error {
			want, err := mountedFile(dep, ctr, func(v volume) ([]keyToPath, bool) {
				if v.Secret == nil || v.Secret.SecretName != sec.Metadata.Name {
					return nil, false
				}
				return v.Secret.Items, true
			}, "keys.json")
			if err != nil {
				return fmt.Errorf("Secret %s: %v", sec.Metadata.Name, err)
			}
			if got, _ := envValue(ctr, "TOKEX_KEYS"); got != want {
				return fmt.Errorf("TOKEX_KEYS=%q, but the keys are mounted at %q", got, want)
			}
			return nil
		}},
		{"keys Secret read-only, mode 0400, readable by the user", func() error {
			for _, v := range pod.Volumes {
				if v.Secret == nil || v.Secret.SecretName != sec.Metadata.Name {
					continue
				}
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 {
					mode := "unset"
					if v.Secret.DefaultMode != nil {
						mode = fmt.Sprintf("%#o", *v.Secret.DefaultMode)
					}
					return fmt.Errorf("volume %s defaultMode %s, want 0400 (decimal 256)", v.Name, mode)
				}
				for _, m := range ctr.VolumeMounts {
					if m.Name == v.Name && !m.ReadOnly {
						return fmt.Errorf("volume %s is mounted read-write", v.Name)
					}
				}
				// Secret files are root-owned; with no "other" read bit a
				// non-root user can read them only through fsGroup.
				uid := effective(ctrSC, podSC, func(s *securityContext) *int64 { return s.RunAsUser })
				if *v.Secret.DefaultMode&0o004 == 0 && (uid == nil || *uid != 0) && (podSC == nil || podSC.FSGroup == nil) {
					return errors.New("keys are mode 0400 and root-owned: set the pod's securityContext.fsGroup so the non-root user can read them")
				}
				return nil
			}
			return fmt.Errorf("no volume uses Secret %s", sec.Metadata.Name)
		}},

		// HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy
		{"HPA scales the deployment 3 to 10 at 70% CPU", func() error { return checkHPA(as, dep, 3, 10, 70) }},
		{"HPA minReplicas equals the deployment's replicas", func() error {
			if as.Spec.MinReplicas == nil || dep.Spec.Replicas == nil || *as.Spec.MinReplicas != *dep.Spec.Replicas {
				return fmt.Errorf("HPA minReplicas %s, deployment replicas %s: an apply would fight the HPA", show(as.Spec.MinReplicas), show(dep.Spec.Replicas))
			}
			return nil
		}},
		{"PDB keeps 2 available", func() error {
			if dep.Spec.Replicas == nil {
				return errors.New("deployment has no replicas")
			}
			return checkPDB(bud, dep, 2, *dep.Spec.Replicas)
		}},
		{"NetworkPolicy admits the API port, allows DNS and HTTPS out", func() error {
			return checkNetworkPolicy(np, dep, []string{portName})
		}},

		// Service
		{"service targets the named container port", func() error {
			if len(svc.Spec.Ports) == 0 {
				return errors.New("service has no ports")
			}
			for _, p := range svc.Spec.Ports {
				if p.TargetPort != portName {
					return fmt.Errorf("service port %d targets %v, want the container port name %q", p.Port, p.TargetPort, portName)
				}
			}
			return nil
		}},
		{"service is ClusterIP on port 80", func() error {
			if svc.Spec.Type != "" && svc.Spec.Type != "ClusterIP" {
				return fmt.Errorf("service type %s, want ClusterIP", svc.Spec.Type)
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 {
				return errors.New("service must expose port 80")
			}
			return nil
		}},
		{"service selects the pods", func() error {
			if len(svc.Spec.Selector) == 0 {
				return errors.New("service has no selector")
			}
			for k, v := range svc.Spec.Selector {
				if dep.Spec.Template.Metadata.Labels[k] != v {
					return fmt.Errorf("service selector %s=%s matches no pod label", k, v)
				}
			}
			return nil
		}},

		// ConfigMap policy
		{"policy parses", func() error { return policyErr }},
		{"policy has issuer, keys, issuers, clients, rules", func() error {
			if policyErr != nil {
				return policyErr
			}
			var missing []string
			if pol.Issuer == "" {
				missing = append(missing, "issuer")
			}
			if pol.Keys == "" {
				missing = append(missing, "keys")
			}
			if len(pol.Issuers) == 0 {
				missing = append(missing, "issuers")
			}
			if len(pol.Clients) == 0 {
				missing = append(missing, "clients")
			}
			if len(pol.Rules) == 0 {
				missing = append(missing, "rules")
			}
			if len(missing) > 0 {
				return fmt.Errorf("policy.yaml lacks %v", missing)
			}
			return nil
		}},
		{"policy passes tokex's validator", func() error {
			keysPath, _ := envValue(ctr, "TOKEX_KEYS")
			_, err := config.ParsePolicy([]byte(cm.Data["policy.yaml"]), "configmap.yaml policy.yaml", config.Overrides{Keys: keysPath})
			return err
		}},
		{"policy keys match TOKEX_KEYS", func() error {
			if got, _ := envValue(ctr, "TOKEX_KEYS"); pol.Keys != got {
				return fmt.Errorf("policy keys %q, TOKEX_KEYS %q", pol.Keys, got)
			}
			return nil
		}},
		{"policy references resolve", func() error {
			var errs []error
			for i, c := range pol.Clients {
				if b, err := hex.DecodeString(c.SecretSHA256); err != nil || len(b) != 32 {
					errs = append(errs, fmt.Errorf("clients[%d].secret_sha256 is not 64 hex characters", i))
				}
			}
			for i, r := range pol.Rules {
				for _, c := range r.Clients {
					if !slices.ContainsFunc(pol.Clients, func(x policyClient) bool { return x.ID == c }) {
						errs = append(errs, fmt.Errorf("rules[%d].clients: unknown client %q", i, c))
					}
				}
				for _, is := range r.Issuers {
					if !slices.ContainsFunc(pol.Issuers, func(x policyIssuer) bool { return x.Name == is }) {
						errs = append(errs, fmt.Errorf("rules[%d].issuers: unknown issuer %q", i, is))
					}
				}
				if r.Audience == "" || len(r.Scopes) == 0 {
					errs = append(errs, fmt.Errorf("rules[%d] needs audience and scopes", i))
				}
			}
			return errors.Join(errs...)
		}},

		// Secret
		{"secret holds keys.json and no private key", func() error {
			val, ok := sec.StringData["keys.json"]
			if !ok {
				enc, ok := sec.Data["keys.json"]
				if !ok {
					return errors.New("Secret has no keys.json")
				}
				b, err := base64.StdEncoding.DecodeString(enc)
				if err != nil {
					return fmt.Errorf("data.keys.json: %v", err)
				}
				val = string(b)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if json.Unmarshal([]byte(val), &set) == nil {
				for i, k := range set.Keys {
					if _, ok := k["d"]; ok {
						return fmt.Errorf("keys.json key %d has private key material (d): never commit a real key", i)
					}
				}
			}
			if strings.Contains(val, "PRIVATE KEY") {
				return errors.New("keys.json holds a PEM private key: never commit a real key")
			}
			if !strings.Contains(strings.ToUpper(val), "PLACEHOLDER") {
				return fmt.Errorf("keys.json %q does not look like an obvious placeholder", val)
			}
			return nil
		}},

		// Kustomization
		{"kustomization resources exist", func() error {
			var errs []error
			for _, r := range kust.Resources {
				if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
					errs = append(errs, fmt.Errorf("kustomization.yaml lists %s: %v", r, err))
				}
			}
			if len(kust.Resources) == 0 {
				errs = append(errs, errors.New("kustomization.yaml lists no resources"))
			}
			return errors.Join(errs...)
		}},
		{"kustomization lists every manifest", func() error {
			var errs []error
			for _, f := range files {
				if f != "kustomization.yaml" && f != "kustomization.yml" && !isExample(f) && !slices.Contains(kust.Resources, f) {
					errs = append(errs, fmt.Errorf("%s is not listed in kustomization.yaml", f))
				}
			}
			return errors.Join(errs...)
		}},
		{"kustomization lists no example", func() error {
			for _, r := range kust.Resources {
				if isExample(r) {
					return fmt.Errorf("kustomization.yaml lists %s: examples need CRDs or features a plain apply cannot assume", r)
				}
			}
			return nil
		}},

		// ServiceMonitor example (servicemonitor.example.yaml)
		{"servicemonitor example scrapes /metrics on the admin port", func() error {
			var sm serviceMonitor
			if err := only(examples, "ServiceMonitor", &sm); err != nil {
				return err
			}
			if sm.APIVersion != "monitoring.coreos.com/v1" {
				return fmt.Errorf("ServiceMonitor apiVersion %s, want monitoring.coreos.com/v1", sm.APIVersion)
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
				return fmt.Errorf("ServiceMonitor endpoints %+v, want port admin, path /metrics", sm.Spec.Endpoints)
			}
			var ms service
			if err := only(examples, "Service", &ms); err != nil {
				return err
			}
			if err := selects("ServiceMonitor", sm.Spec.Selector.MatchLabels, ms.Metadata.Labels); err != nil {
				return fmt.Errorf("does not select the example's Service %s: %v", ms.Metadata.Name, err)
			}
			if selects("", sm.Spec.Selector.MatchLabels, svc.Metadata.Labels) == nil {
				return fmt.Errorf("ServiceMonitor also selects the API Service %s", svc.Metadata.Name)
			}
			if err := selects("metrics Service", ms.Spec.Selector, dep.Spec.Template.Metadata.Labels); err != nil {
				return err
			}
			if len(ms.Spec.Ports) != 1 || ms.Spec.Ports[0].Name != "admin" || ms.Spec.Ports[0].TargetPort != 9090 {
				return fmt.Errorf("metrics Service ports %+v, want one named admin targeting 9090 (TOKEX_ADMIN_ADDR's default)", ms.Spec.Ports)
			}
			return nil
		}},
		{"servicemonitor example lets Prometheus reach port 9090", func() error {
			var enp networkPolicy
			if err := only(examples, "NetworkPolicy", &enp); err != nil {
				return err
			}
			if err := selects("example NetworkPolicy", enp.Spec.PodSelector.MatchLabels, dep.Spec.Template.Metadata.Labels); err != nil {
				return err
			}
			if len(enp.Spec.Ingress) != 1 || len(enp.Spec.Ingress[0].From) == 0 || len(enp.Spec.Ingress[0].Ports) != 1 || enp.Spec.Ingress[0].Ports[0].Port != 9090 {
				return fmt.Errorf("example NetworkPolicy ingress %+v, want one rule admitting only 9090 from given peers", enp.Spec.Ingress)
			}
			if len(enp.Spec.Egress) > 0 || slices.Contains(enp.Spec.PolicyTypes, "Egress") {
				return errors.New("example NetworkPolicy must not touch egress")
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(); err != nil {
				t.Error(err)
			}
		})
	}
}
