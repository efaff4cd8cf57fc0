package deploy

// Tests of the shared store (Redis/Valkey) in the chart and in the plain
// manifests' kustomize component (kubernetes/redis).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// checkRedis checks a rendered Deployment and NetworkPolicy with the shared
// store: the URL in the environment (from urlSecret when set, never with a
// password), the password as a file from passwordSecret, mounted 0400, and
// an egress rule to the Redis port.
func checkRedis(dep deployment, c container, np networkPolicy, urlSecret, passwordSecret string, port int) error {
	var errs []error
	found := false
	for _, e := range c.Env {
		if e.Name != "TOKEX_REDIS_URL" {
			continue
		}
		found = true
		switch {
		case urlSecret != "":
			ref, _ := e.ValueFrom["secretKeyRef"].(map[string]any)
			if e.Value != "" || ref["name"] != urlSecret {
				errs = append(errs, fmt.Errorf("TOKEX_REDIS_URL: value %q, valueFrom %v; want it from Secret %s", e.Value, e.ValueFrom, urlSecret))
			}
		case strings.Contains(strings.SplitN(strings.TrimPrefix(e.Value, "rediss://"), "/", 2)[0], "@"):
			errs = append(errs, fmt.Errorf("TOKEX_REDIS_URL %q holds credentials", e.Value))
		}
	}
	if !found {
		errs = append(errs, errors.New("no TOKEX_REDIS_URL"))
	}
	want, err := mountedFile(dep, c, func(v volume) ([]keyToPath, bool) {
		if v.Secret == nil || v.Secret.SecretName != passwordSecret {
			return nil, false
		}
		return v.Secret.Items, true
	}, "password")
	if got, _ := envValue(c, "TOKEX_REDIS_PASSWORD_FILE"); err != nil || got != want {
		errs = append(errs, fmt.Errorf("TOKEX_REDIS_PASSWORD_FILE=%q, password mounted at %q (%v)", got, want, err))
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == passwordSecret && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400) {
			errs = append(errs, fmt.Errorf("password volume mode %s, want 0400", show(v.Secret.DefaultMode)))
		}
	}
	egress := false
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			if fmt.Sprint(p.Port) == fmt.Sprint(port) && p.Protocol == "TCP" {
				egress = true
			}
		}
	}
	if !egress {
		errs = append(errs, fmt.Errorf("NetworkPolicy egress %+v does not allow %d/TCP", np.Spec.Egress, port))
	}
	return errors.Join(errs...)
}

func TestHelmRedis(t *testing.T) {
	f := newHelmFixture(t)
	for _, tc := range []struct {
		name      string
		set       string
		urlSecret string
	}{
		{name: "url and password Secret", set: "redis.url=redis://redis.redis.svc:6379/0,redis.passwordSecret.name=tokex-redis"},
		{name: "url from a Secret", set: "redis.urlSecret.name=redis-url,redis.passwordSecret.name=tokex-redis,redis.port=6380", urlSecret: "redis-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := f.render(t, "--set", tc.set)
			dep, ctr := chartDeployment(t, docs)
			var np networkPolicy
			if err := named(docs, "NetworkPolicy", helmRelease, &np); err != nil {
				t.Fatal(err)
			}
			port := 6379
			if tc.urlSecret != "" {
				port = 6380
			}
			if err := checkRedis(dep, ctr, np, tc.urlSecret, "tokex-redis", port); err != nil {
				t.Error(err)
			}
			for k, v := range map[string]string{"TOKEX_REDIS_KEY_PREFIX": "tokex:", "TOKEX_REDIS_RATE_LIMIT_FAILURE": "open", "TOKEX_REDIS_MODE": "single"} {
				if got, _ := envValue(ctr, k); got != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
		})
	}
	t.Run("no store: no TOKEX_REDIS_*", func(t *testing.T) {
		_, ctr := chartDeployment(t, f.render(t))
		for _, e := range ctr.Env {
			if strings.HasPrefix(e.Name, "TOKEX_REDIS_") {
				t.Errorf("%s set without redis values", e.Name)
			}
		}
	})
	withKeys := []string{"-f", f.values, "--set-file", "keys.json=" + f.keysA}
	for _, tc := range []struct{ name, set, want string }{
		{"password in the URL", "redis.url=redis://tokex:hunter2@redis:6379", "holds a password"},
		{"url and urlSecret", "redis.url=redis://redis:6379,redis.urlSecret.name=x", "not both"},
		{"password Secret without a store", "redis.passwordSecret.name=x", "needs redis.url"},
		{"not a redis URL", "redis.url=http://redis:6379", "redis"},
		{"unknown failure mode", "redis.url=redis://redis:6379,redis.rateLimitFailure=maybe", "rateLimitFailure"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			docs, err := f.helm.template(t, append(withKeys, "--set", tc.set)...)
			if err == nil {
				t.Fatalf("rendered %d documents, want a refusal mentioning %q", len(docs), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused, but not for %q:\n%v", tc.want, err)
			}
			if strings.Contains(err.Error(), "hunter2") && !strings.Contains(tc.set, "hunter2") {
				t.Errorf("error echoes a password")
			}
		})
	}
}

// TestHelmNotesSharedState: with several pods and no shared store, NOTES.txt
// says plainly what does not hold across pods; with a store or one pod it
// does not warn.
func TestHelmNotesSharedState(t *testing.T) {
	f := newHelmFixture(t)
	// helm template does not render NOTES.txt: in a copy of the chart, it
	// becomes a named template that a ConfigMap holds.
	chart := filepath.Join(t.TempDir(), "tokex")
	if out, err := exec.Command("cp", "-r", chartDir, chart).CombinedOutput(); err != nil {
		t.Fatalf("copy chart: %v %s", err, out)
	}
	notes, err := os.ReadFile(filepath.Join(chart, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"_notes-test.tpl":     `{{- define "notesForTest" -}}` + string(notes) + `{{- end }}`,
		"notes-rendered.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n{{ include \"notesForTest\" . | indent 4 }}\n",
	} {
		if err := os.WriteFile(filepath.Join(chart, "templates", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		set  string
		warn bool
	}{
		{"HPA without a store", "", true},
		{"several replicas without a store", "autoscaling.enabled=false,replicaCount=3,pdb.enabled=false", true},
		{"one replica", "autoscaling.enabled=false,replicaCount=1,pdb.enabled=false", false},
		{"HPA with a store", "redis.url=redis://redis:6379", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", helmRelease, chart, "--kube-version", helmKubeVersion, "-f", f.values,
				"--set-file", "keys.json=" + f.keysA, "--show-only", "templates/notes-rendered.yaml"}
			if tc.set != "" {
				args = append(args, "--set", tc.set)
			}
			out, stderr, err := f.helm.run(t, args...)
			if err != nil {
				t.Fatalf("helm: %v\n%s", err, stderr)
			}
			docs, err := decodeDocuments("notes", out)
			if err != nil {
				t.Fatal(err)
			}
			var cm configMap
			if err := only(docs, "ConfigMap", &cm); err != nil {
				t.Fatal(err)
			}
			text := cm.Data["notes"]
			warned := strings.Contains(text, "do NOT hold across pods")
			if warned != tc.warn {
				t.Errorf("warning shown = %v, want %v:\n%s", warned, tc.warn, text)
			}
			if tc.warn && (!strings.Contains(text, "private_key_jwt") || !strings.Contains(text, "rate limits")) {
				t.Errorf("the warning does not name replay checks and rate limits:\n%s", text)
			}
		})
	}
}

// TestKubernetesRedisComponent: the kustomize component kubernetes/redis adds
// the store to the plain manifests: URL and password from Secret tokex-redis,
// the password as a 0400 file, an egress rule to 6379. With kubectl on PATH
// the component is built with `kubectl kustomize`; without it the patches
// are checked as files.
func TestKubernetesRedisComponent(t *testing.T) {
	dir := filepath.Join(manifestDir, "redis")
	var comp struct {
		Kind    string `yaml:"kind"`
		Patches []struct {
			Path string `yaml:"path"`
		} `yaml:"patches"`
	}
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &comp)
	if comp.Kind != "Component" || len(comp.Patches) != 2 {
		t.Fatalf("kubernetes/redis/kustomization.yaml: kind %q, %d patches; want a Component with two", comp.Kind, len(comp.Patches))
	}
	var dep deployment
	var np networkPolicy
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		tmp := filepath.Join(t.TempDir(), "k")
		if out, err := exec.Command("cp", "-r", manifestDir, tmp).CombinedOutput(); err != nil {
			t.Fatalf("copy: %v %s", err, out)
		}
		k, err := os.OpenFile(filepath.Join(tmp, "kustomization.yaml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = k.WriteString("components:\n  - redis\n")
		_ = k.Close()
		out, err := exec.Command(kubectl, "kustomize", tmp).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v", err)
		}
		docs, err := decodeDocuments("kustomize", out)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(only(docs, "Deployment", &dep), only(docs, "NetworkPolicy", &np)); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("kubectl not on PATH: checking the patches as files, not the built manifests")
		readYAML(t, filepath.Join(dir, "deployment-patch.yaml"), &dep)
		var ops []struct {
			Op    string            `yaml:"op"`
			Path  string            `yaml:"path"`
			Value networkPolicyRule `yaml:"value"`
		}
		readYAML(t, filepath.Join(dir, "networkpolicy-patch.yaml"), &ops)
		for _, op := range ops {
			if op.Op == "add" && op.Path == "/spec/egress/-" {
				np.Spec.Egress = append(np.Spec.Egress, op.Value)
			}
		}
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(dep.Spec.Template.Spec.Containers))
	}
	if err := checkRedis(dep, dep.Spec.Template.Spec.Containers[0], np, "tokex-redis", "tokex-redis", 6379); err != nil {
		t.Error(err)
	}
}

func readYAML(t *testing.T, file string, out any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
