package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokex/tokex/internal/testidp"
)

// memoryCgroup makes a child memory cgroup limited to limit bytes (cgroup v2,
// else v1) and returns the file a process joins it through. It skips the test
// where cgroups cannot be written (not root, or a read-only /sys/fs/cgroup).
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	name := fmt.Sprintf("tokex-e2e-%d", os.Getpid())
	try := func(root, limitFile string) (string, bool) {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", false
		}
		t.Cleanup(func() { _ = os.Remove(dir) }) // after the process left it
		if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			return "", false
		}
		return filepath.Join(dir, "cgroup.procs"), true
	}
	if c, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(string(c), "memory") {
		if procs, ok := try("/sys/fs/cgroup", "memory.max"); ok {
			return procs
		}
	}
	if procs, ok := try("/sys/fs/cgroup/memory", "memory.limit_in_bytes"); ok {
		return procs
	}
	t.Skip("cannot create a memory cgroup here (needs root and a writable cgroup v1 or v2 memory controller)")
	return ""
}

// TestMemoryLimitFromCgroup runs the binary in a container-like memory cgroup:
// without GOMEMLIMIT it sets the soft limit to the cgroup's limit less 32 MiB
// and says so; an operator's GOMEMLIMIT wins.
func TestMemoryLimitFromCgroup(t *testing.T) {
	procs := memoryCgroup(t, 256<<20) // room for a -race binary
	for _, tc := range []struct {
		name string
		env  string
		want float64 // gomemlimit_mib logged; 0: no line
	}{
		{name: "derived", want: 224},
		{name: "GOMEMLIMIT wins", env: "GOMEMLIMIT=100MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			cmd := exec.Command("sh", "-c", `echo $$ > "$0" && exec "$1" serve`, procs, tokexBin)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
				"TOKEX_ADDR=127.0.0.1:" + port, "TOKEX_ADMIN_ADDR=127.0.0.1:0", "TOKEX_LOG_LEVEL=info"}
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			out, errOut := &testidp.SyncBuffer{}, &testidp.SyncBuffer{}
			cmd.Stdout, cmd.Stderr = out, errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Signal(os.Interrupt)
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					<-done
				}
			}()
			ready := false
			for deadline := time.Now().Add(30 * time.Second); !ready && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if resp, err := http.Get("http://127.0.0.1:" + port + "/readyz"); err == nil {
					resp.Body.Close()
					ready = resp.StatusCode == http.StatusOK
				}
			}
			if !ready {
				t.Fatalf("tokex did not become ready\nstderr:\n%s\nstdout:\n%s", errOut, out)
			}
			var got map[string]any
			for line := range strings.SplitSeq(out.String(), "\n") {
				if strings.Contains(line, `"GOMEMLIMIT set`) {
					if err := json.Unmarshal([]byte(line), &got); err != nil {
						t.Fatalf("log line %q: %v", line, err)
					}
				}
			}
			switch {
			case tc.want == 0 && got != nil:
				t.Fatalf("GOMEMLIMIT is set in the environment, yet tokex logged %v", got)
			case tc.want != 0 && got == nil:
				t.Fatalf("no GOMEMLIMIT line in the log:\n%s", out)
			case tc.want != 0 && (got["gomemlimit_mib"] != tc.want || got["container_limit_mib"] != float64(256) || got["level"] != "INFO"):
				t.Fatalf("logged %v, want gomemlimit_mib %v of container_limit_mib 256 at INFO", got, tc.want)
			}
		})
	}
}
