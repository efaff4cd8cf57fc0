package deploy

// Tests of the Helm chart (helm/tokex): helm lint --strict, and helm template
// with several value sets, the output parsed and checked like the plain
// manifests. helm is a binary, not a Go dependency: the tests look for it on
// PATH and in $(go env GOPATH)/bin and skip without it, unless
// TOKEX_REQUIRE_HELM is set (CI), which makes a missing helm a failure.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/keys"
)

const (
	chartDir      = "helm/tokex"
	chartCIValues = "helm/tokex/ci/existing-secret-values.yaml"
	// helm built with plain `go install` assumes Kubernetes 1.20 offline,
	// below the chart's kubeVersion; name a current one.
	helmKubeVersion = "1.33.0"
	helmRelease     = "tokex" // the chart's fullname is then "tokex"
	helmInstall     = "GOFLAGS= go install helm.sh/helm/v3/cmd/helm@v3.22.0"
)

// testPolicy is the policy the test values set: not the chart's example, so
// that a chart ignoring the value fails. It must pass tokex's validator.
const testPolicy = `# test policy: comments, quotes and a CEL condition survive rendering
issuer: https://sts.test.example
keys: /etc/tokex/keys/keys.json
token:
  default_lifetime: 2m
  max_lifetime: 10m

issuers:
  - name: entra
    issuer_url: https://login.test.example/tenant/v2.0
    jwks_uri: https://login.test.example/tenant/discovery/v2.0/keys
    audiences: [https://sts.test.example]
    algorithms: [RS256]

clients:
  - id: billing
    secret_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

rules:
  - name: billing-to-ledger
    clients: [billing]
    issuers: [entra]
    audience: https://ledger.test.example
    scopes: [ledger.read, "ledger.write"]
    lifetime: 1m
    require: 'claims.tid == "t1"'
`

type helmRunner struct {
	bin string
	env []string
}

// findHelm returns helm from PATH or $(go env GOPATH)/bin, or skips the test.
func findHelm(t *testing.T) *helmRunner {
	t.Helper()
	bin, err := exec.LookPath("helm")
	if err != nil {
		if out, gerr := exec.Command("go", "env", "GOPATH").Output(); gerr == nil {
			for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
				p := filepath.Join(dir, "bin", "helm")
				if st, serr := os.Stat(p); serr == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
					bin, err = p, nil
					break
				}
			}
		}
	}
	if err != nil {
		msg := "helm not found on PATH or in $(go env GOPATH)/bin; install it with: " + helmInstall
		if os.Getenv("TOKEX_REQUIRE_HELM") != "" {
			t.Fatal(msg + " (TOKEX_REQUIRE_HELM is set)")
		}
		t.Skip(msg)
	}
	// Keep helm away from the user's configuration, cache and repositories.
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	return &helmRunner{bin: bin, env: env}
}

func (h *helmRunner) run(t *testing.T, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), h.bin, args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// template runs helm template on the chart with args and decodes the output.
func (h *helmRunner) template(t *testing.T, args ...string) ([]document, error) {
	t.Helper()
	full := append([]string{"template", helmRelease, chartDir, "--kube-version", helmKubeVersion}, args...)
	out, stderr, err := h.run(t, full...)
	if err != nil {
		return nil, fmt.Errorf("helm %s: %v\n%s", strings.Join(full, " "), err, stderr)
	}
	return decodeDocuments("helm template", out)
}

// helmFixture is what the chart tests share: helm, a values file with
// testPolicy and other non-default values, and two generated key sets.
type helmFixture struct {
	helm       *helmRunner
	values     string // path of the test values file
	keysA      string // path of a private JWKS, as `tokex keys generate` prints it
	keysB      string
	keysAData  []byte
	publicJWKS string // path of a public JWKS (no "d")
	dir        string
}

func newHelmFixture(t *testing.T) *helmFixture {
	t.Helper()
	f := &helmFixture{helm: findHelm(t), dir: t.TempDir()}
	write := func(name string, data []byte) string {
		p := filepath.Join(f.dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gen := func() (priv, pub []byte) {
		// The same code as `tokex keys generate`.
		ks, err := keys.Generate(keys.ES256)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := ks.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		return append(doc, '\n'), ks.JWKS()
	}
	a, pub := gen()
	b, _ := gen()
	f.keysAData = a
	f.keysA, f.keysB = write("keys-a.json", a), write("keys-b.json", b)
	f.publicJWKS = write("public.json", pub)

	vals, err := yaml.Marshal(map[string]any{
		"image":    map[string]any{"repository": "registry.test.example/tokex", "tag": "v9.9.9"},
		"policy":   testPolicy,
		"logLevel": "debug",
		"env":      []any{map[string]any{"name": "OTEL_SERVICE_NAME", "value": "tokex-test"}},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "250m", "memory": "96Mi"},
			"limits":   map[string]any{"cpu": "2", "memory": "384Mi"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.values = write("values.yaml", vals)
	return f
}

// render renders the chart with the test values, keys A and extra args.
func (f *helmFixture) render(t *testing.T, extra ...string) []document {
	t.Helper()
	args := append([]string{"-f", f.values, "--set-file", "keys.json=" + f.keysA}, extra...)
	docs, err := f.helm.template(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// named decodes the one document of kind and name.
func named(docs []document, kind, name string, out any) error {
	var found []document
	for _, d := range docs {
		if d.kind != kind {
			continue
		}
		var m struct {
			Metadata objectMeta `yaml:"metadata"`
		}
		if err := d.node.Decode(&m); err != nil {
			return err
		}
		if m.Metadata.Name == name {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return fmt.Errorf("want exactly one %s %s, found %d", kind, name, len(found))
	}
	return found[0].node.Decode(out)
}

func kindCount(docs []document) map[string]int {
	n := map[string]int{}
	for _, d := range docs {
		n[d.kind]++
	}
	return n
}

// chartDeployment decodes the chart's Deployment and its one container.
func chartDeployment(t *testing.T, docs []document) (deployment, container) {
	t.Helper()
	var dep deployment
	if err := named(docs, "Deployment", helmRelease, &dep); err != nil {
		t.Fatal(err)
	}
	if n := len(dep.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return dep, dep.Spec.Template.Spec.Containers[0]
}

// checkPodSecurity checks the pod against the hardening deploy/kubernetes has.
func checkPodSecurity(dep deployment) error {
	pod := dep.Spec.Template.Spec
	podSC := pod.SecurityContext
	var errs []error
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil {
			errs = append(errs, fmt.Errorf("container %s has no securityContext", c.Name))
			continue
		}
		if v := effective(sc, podSC, func(s *securityContext) *bool { return s.RunAsNonRoot }); v == nil || !*v {
			errs = append(errs, errors.New("runAsNonRoot is not true"))
		}
		if v := effective(sc, podSC, func(s *securityContext) *int64 { return s.RunAsUser }); v == nil || *v != 65532 {
			errs = append(errs, fmt.Errorf("runAsUser %s, want 65532", show(v)))
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			errs = append(errs, errors.New("readOnlyRootFilesystem is not true"))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			errs = append(errs, errors.New("allowPrivilegeEscalation is not false"))
		}
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, errors.New("privileged"))
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			errs = append(errs, errors.New("capabilities: want drop [ALL], add none"))
		}
		if sp := effective(sc, podSC, func(s *securityContext) *seccompProfile { return s.SeccompProfile }); sp == nil || sp.Type != "RuntimeDefault" {
			errs = append(errs, errors.New("seccompProfile is not RuntimeDefault"))
		}
	}
	if podSC == nil || podSC.FSGroup == nil || *podSC.FSGroup != 65532 {
		errs = append(errs, errors.New("pod fsGroup is not 65532: uid 65532 could not read the 0400 keys file"))
	}
	if a := pod.AutomountServiceAccountToken; a == nil || *a {
		errs = append(errs, errors.New("automountServiceAccountToken is not false"))
	}
	return errors.Join(errs...)
}

// checkProbes checks startup and liveness on /healthz and readiness on
// /readyz, all on the named container port want with number wantNumber.
func checkProbes(c container, want string, wantNumber int) error {
	var errs []error
	if !slices.ContainsFunc(c.Ports, func(p struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return p.Name == want && p.ContainerPort == wantNumber
	}) {
		errs = append(errs, fmt.Errorf("no container port %s (%d); ports %+v", want, wantNumber, c.Ports))
	}
	for _, p := range []struct {
		name, path string
		probe      *probe
	}{
		{"startupProbe", "/healthz", c.StartupProbe},
		{"livenessProbe", "/healthz", c.LivenessProbe},
		{"readinessProbe", "/readyz", c.ReadinessProbe},
	} {
		switch {
		case p.probe == nil || p.probe.HTTPGet == nil:
			errs = append(errs, fmt.Errorf("%s: no httpGet probe", p.name))
		case p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != want:
			errs = append(errs, fmt.Errorf("%s: %s on port %v, want %s on %s", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path, want))
		}
	}
	return errors.Join(errs...)
}

// checkMounts checks that TOKEX_CONFIG and TOKEX_KEYS name the files where
// the ConfigMap and the keys Secret (key secretKey) are mounted, read-only,
// the keys with mode 0400.
func checkMounts(dep deployment, c container, cmName, secretName, secretKey string) error {
	var errs []error
	want, err := mountedFile(dep, c, func(v volume) ([]keyToPath, bool) {
		if v.ConfigMap == nil || v.ConfigMap.Name != cmName {
			return nil, false
		}
		return v.ConfigMap.Items, true
	}, "policy.yaml")
	if got, _ := envValue(c, "TOKEX_CONFIG"); err != nil || got != want {
		errs = append(errs, fmt.Errorf("TOKEX_CONFIG=%q, policy mounted at %q (%v)", got, want, err))
	}
	want, err = mountedFile(dep, c, func(v volume) ([]keyToPath, bool) {
		if v.Secret == nil || v.Secret.SecretName != secretName {
			return nil, false
		}
		return v.Secret.Items, true
	}, secretKey)
	if got, _ := envValue(c, "TOKEX_KEYS"); err != nil || got != want {
		errs = append(errs, fmt.Errorf("TOKEX_KEYS=%q, keys mounted at %q (%v)", got, want, err))
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400) {
			errs = append(errs, fmt.Errorf("secret volume %s: defaultMode %s, want 0400", v.Name, show(v.Secret.DefaultMode)))
		}
	}
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			errs = append(errs, fmt.Errorf("volume %s is mounted read-write", m.Name))
		}
	}
	return errors.Join(errs...)
}

// checkPolicy checks a rendered policy.yaml against the values' policy:
// byte for byte, YAML with the policy's top-level keys, and accepted by
// tokex's own validator (config.ParsePolicy, what `tokex serve` runs).
func checkPolicy(got, want, keysPath string) error {
	if got != want {
		return fmt.Errorf("ConfigMap policy.yaml differs from the values' policy:\n got %q\nwant %q", got, want)
	}
	var top map[string]any
	if err := yaml.Unmarshal([]byte(got), &top); err != nil {
		return fmt.Errorf("policy.yaml is not YAML: %v", err)
	}
	known := []string{"issuer", "keys", "token", "issuers", "clients", "rules"}
	for k := range top {
		if !slices.Contains(known, k) {
			return fmt.Errorf("policy.yaml has unknown top-level key %q", k)
		}
	}
	for _, k := range []string{"issuer", "issuers", "clients", "rules"} {
		if _, ok := top[k]; !ok {
			return fmt.Errorf("policy.yaml lacks %s", k)
		}
	}
	if _, err := config.ParsePolicy([]byte(got), "policy.yaml", config.Overrides{Keys: keysPath}); err != nil {
		return fmt.Errorf("tokex's validator refuses the rendered policy: %v", err)
	}
	return nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestHelmLint(t *testing.T) {
	f := newHelmFixture(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ci values (existing Secret)", []string{"-f", chartCIValues}},
		{"test values, keys.json", []string{"-f", f.values, "--set-file", "keys.json=" + f.keysA}},
		{"metrics and ServiceMonitor", []string{"-f", chartCIValues, "--set", "metrics.enabled=true,serviceMonitor.enabled=true"}},
		{"PrometheusRule", []string{"-f", chartCIValues, "--set", "prometheusRule.enabled=true"}},
		{"no autoscaling", []string{"-f", chartCIValues, "--set", "autoscaling.enabled=false,replicaCount=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", "--kube-version", helmKubeVersion, chartDir}, tc.args...)
			out, stderr, err := f.helm.run(t, args...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
			}
			if !bytes.Contains(out, []byte("0 chart(s) failed")) {
				t.Errorf("helm lint output lacks %q:\n%s", "0 chart(s) failed", out)
			}
		})
	}
}

func TestHelmTemplate(t *testing.T) {
	f := newHelmFixture(t)
	docs := f.render(t)
	dep, ctr := chartDeployment(t, docs)
	var (
		svc  service
		cm   configMap
		sec  secret
		as   hpa
		bud  pdb
		np   networkPolicy
		vals struct {
			Resources struct {
				Requests map[string]string `yaml:"requests"`
				Limits   map[string]string `yaml:"limits"`
			} `yaml:"resources"`
		}
	)
	if b, err := os.ReadFile(f.values); err != nil || yaml.Unmarshal(b, &vals) != nil {
		t.Fatalf("read back %s: %v", f.values, err)
	}
	for _, k := range []struct {
		kind, name string
		out        any
	}{
		{"Service", helmRelease, &svc}, {"ConfigMap", helmRelease + "-policy", &cm}, {"Secret", helmRelease + "-keys", &sec},
		{"HorizontalPodAutoscaler", helmRelease, &as}, {"PodDisruptionBudget", helmRelease, &bud}, {"NetworkPolicy", helmRelease, &np},
	} {
		if err := named(docs, k.kind, k.name, k.out); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name  string
		check func() error
	}{
		{"kinds", func() error {
			want := map[string]int{"Deployment": 1, "Service": 2, "ConfigMap": 1, "Secret": 1,
				"HorizontalPodAutoscaler": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1}
			if got := kindCount(docs); !maps.Equal(got, want) {
				return fmt.Errorf("rendered kinds %v, want %v", got, want)
			}
			return nil
		}},
		{"image from values", func() error {
			if ctr.Image != "registry.test.example/tokex:v9.9.9" {
				return fmt.Errorf("image %q, want registry.test.example/tokex:v9.9.9", ctr.Image)
			}
			return nil
		}},
		{"pod security", func() error { return checkPodSecurity(dep) }},
		{"probes on admin by default", func() error { return checkProbes(ctr, "admin", 9090) }},
		{"TOKEX_ADMIN_ADDR by default", func() error {
			if v, _ := envValue(ctr, "TOKEX_ADMIN_ADDR"); v != ":9090" {
				return fmt.Errorf("TOKEX_ADMIN_ADDR=%q, want :9090", v)
			}
			return nil
		}},
		{"env from values", func() error {
			for name, want := range map[string]string{"TOKEX_ADDR": ":8080", "TOKEX_LOG_LEVEL": "debug", "OTEL_SERVICE_NAME": "tokex-test"} {
				if got, _ := envValue(ctr, name); got != want {
					return fmt.Errorf("%s=%q, want %q", name, got, want)
				}
			}
			// tokex derives GOMEMLIMIT from the cgroup's limit, leaving room
			// for the binary's pages; the whole limit would leave none.
			if _, ok := envValue(ctr, "GOMEMLIMIT"); ok {
				return errors.New("the chart sets GOMEMLIMIT: tokex sets it from the memory limit itself")
			}
			return nil
		}},
		{"resources from values", func() error {
			if !maps.Equal(ctr.Resources.Requests, vals.Resources.Requests) || !maps.Equal(ctr.Resources.Limits, vals.Resources.Limits) {
				return fmt.Errorf("resources %+v, want %+v", ctr.Resources, vals.Resources)
			}
			return nil
		}},
		{"mounts match TOKEX_CONFIG and TOKEX_KEYS", func() error {
			return checkMounts(dep, ctr, cm.Metadata.Name, sec.Metadata.Name, "keys.json")
		}},
		{"no replicas field under the HPA", func() error {
			if dep.Spec.Replicas != nil {
				return fmt.Errorf("Deployment replicas %d with autoscaling enabled: every upgrade would reset the HPA's count", *dep.Spec.Replicas)
			}
			return nil
		}},
		{"spread over nodes and zones", func() error { return checkSpread(dep) }},
		{"deployment selector matches pod labels", func() error {
			return selects("Deployment", dep.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels)
		}},
		{"checksum annotations", func() error {
			for _, a := range []string{"checksum/policy", "checksum/keys"} {
				if !sha256Hex.MatchString(dep.Spec.Template.Metadata.Annotations[a]) {
					return fmt.Errorf("pod annotation %s = %q, want a sha256", a, dep.Spec.Template.Metadata.Annotations[a])
				}
			}
			return nil
		}},
		{"service: ClusterIP port 80 to http", func() error {
			if svc.Spec.Type != "ClusterIP" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort != "http" {
				return fmt.Errorf("Service %+v, want ClusterIP, one port 80 -> http", svc.Spec)
			}
			return selects("Service", svc.Spec.Selector, dep.Spec.Template.Metadata.Labels)
		}},
		{"ConfigMap policy is the values' policy", func() error {
			keysPath, _ := envValue(ctr, "TOKEX_KEYS")
			return checkPolicy(cm.Data["policy.yaml"], testPolicy, keysPath)
		}},
		{"Secret holds the given keys", func() error {
			b, err := base64.StdEncoding.DecodeString(sec.Data["keys.json"])
			if err != nil {
				return fmt.Errorf("data.keys.json: %v", err)
			}
			if !bytes.Equal(b, f.keysAData) {
				return errors.New("Secret keys.json differs from the --set-file keys.json file")
			}
			if _, err := keys.Parse(b, "keys.json"); err != nil {
				return fmt.Errorf("tokex refuses the Secret's keys: %v", err)
			}
			return nil
		}},
		{"HPA 3 to 10 at 70% CPU", func() error { return checkHPA(as, dep, 3, 10, 70) }},
		{"PDB minAvailable 2", func() error { return checkPDB(bud, dep, 2, 3) }},
		{"NetworkPolicy: http and admin in, DNS and HTTPS out", func() error { return checkNetworkPolicy(np, dep, []string{"http", "admin"}) }},
		{"NetworkPolicy admits anyone to http by default", func() error {
			for _, r := range np.Spec.Ingress {
				if len(r.From) > 0 {
					return fmt.Errorf("ingress from %v, want any source by default", r.From)
				}
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

func TestHelmMetrics(t *testing.T) {
	f := newHelmFixture(t)
	for _, withSM := range []bool{true, false} {
		t.Run(fmt.Sprintf("serviceMonitor.enabled=%v", withSM), func(t *testing.T) {
			docs := f.render(t, "--set", fmt.Sprintf("metrics.enabled=true,serviceMonitor.enabled=%v", withSM))
			dep, ctr := chartDeployment(t, docs)
			var api, ms service
			var np networkPolicy
			for _, err := range []error{
				named(docs, "Service", helmRelease, &api),
				named(docs, "Service", helmRelease+"-metrics", &ms),
				named(docs, "NetworkPolicy", helmRelease, &np),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			checks := []struct {
				name  string
				check func() error
			}{
				{"probes on admin", func() error { return checkProbes(ctr, "admin", 9090) }},
				{"http port kept", func() error {
					if resolvePort(ctr, 8080) != "http" {
						return errors.New("no container port http (8080)")
					}
					return nil
				}},
				{"TOKEX_ADMIN_ADDR=:9090", func() error {
					if got, _ := envValue(ctr, "TOKEX_ADMIN_ADDR"); got != ":9090" {
						return fmt.Errorf("TOKEX_ADMIN_ADDR=%q, want :9090", got)
					}
					return nil
				}},
				{"metrics Service exposes only admin", func() error {
					if len(ms.Spec.Ports) != 1 || ms.Spec.Ports[0].Name != "admin" || ms.Spec.Ports[0].TargetPort != "admin" {
						return fmt.Errorf("metrics Service ports %+v, want one admin -> admin", ms.Spec.Ports)
					}
					return selects("metrics Service", ms.Spec.Selector, dep.Spec.Template.Metadata.Labels)
				}},
				{"API Service does not expose admin", func() error {
					if len(api.Spec.Ports) != 1 || api.Spec.Ports[0].TargetPort != "http" {
						return fmt.Errorf("API Service ports %+v, want only -> http", api.Spec.Ports)
					}
					return nil
				}},
				{"NetworkPolicy admits http and admin", func() error { return checkNetworkPolicy(np, dep, []string{"http", "admin"}) }},
				{"ServiceMonitor only when enabled", func() error {
					n := kindCount(docs)["ServiceMonitor"]
					if !withSM {
						if n != 0 {
							return fmt.Errorf("%d ServiceMonitors with serviceMonitor.enabled=false", n)
						}
						return nil
					}
					var sm serviceMonitor
					if err := named(docs, "ServiceMonitor", helmRelease, &sm); err != nil {
						return err
					}
					if sm.APIVersion != "monitoring.coreos.com/v1" {
						return fmt.Errorf("ServiceMonitor apiVersion %s", sm.APIVersion)
					}
					if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
						return fmt.Errorf("ServiceMonitor endpoints %+v, want port admin, path /metrics", sm.Spec.Endpoints)
					}
					if err := selects("ServiceMonitor", sm.Spec.Selector.MatchLabels, ms.Metadata.Labels); err != nil {
						return err
					}
					if selects("", sm.Spec.Selector.MatchLabels, api.Metadata.Labels) == nil {
						return errors.New("ServiceMonitor also selects the API Service")
					}
					return nil
				}},
			}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					if err := c.check(); err != nil {
						t.Error(err)
					}
				})
			}
		})
	}

	t.Run("off: nothing about metrics renders", func(t *testing.T) {
		// serviceMonitor without metrics is refused (TestHelmRefuses).
		docs := f.render(t, "--set", "metrics.enabled=false")
		if n := kindCount(docs)["ServiceMonitor"]; n != 0 {
			t.Errorf("%d ServiceMonitors with metrics disabled", n)
		}
		var ms service
		if named(docs, "Service", helmRelease+"-metrics", &ms) == nil {
			t.Error("metrics Service rendered with metrics disabled")
		}
		dep, ctr := chartDeployment(t, docs)
		var np networkPolicy
		if err := named(docs, "NetworkPolicy", helmRelease, &np); err != nil {
			t.Fatal(err)
		}
		if err := checkProbes(ctr, "http", 8080); err != nil {
			t.Error(err)
		}
		if len(ctr.Ports) != 1 {
			t.Errorf("container ports %+v, want only http", ctr.Ports)
		}
		if v, ok := envValue(ctr, "TOKEX_ADMIN_ADDR"); ok {
			t.Errorf("TOKEX_ADMIN_ADDR=%q set without metrics.enabled", v)
		}
		if err := checkNetworkPolicy(np, dep, []string{"http"}); err != nil {
			t.Error(err)
		}
	})
}

func TestHelmExistingSecret(t *testing.T) {
	f := newHelmFixture(t)
	docs, err := f.helm.template(t, "-f", f.values, "--set", "keys.existingSecret=my-keys,keys.existingSecretKey=jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	dep, ctr := chartDeployment(t, docs)
	if n := kindCount(docs)["Secret"]; n != 0 {
		t.Errorf("%d Secrets rendered with keys.existingSecret", n)
	}
	if err := checkMounts(dep, ctr, helmRelease+"-policy", "my-keys", "jwks.json"); err != nil {
		t.Error(err)
	}
	if a, ok := dep.Spec.Template.Metadata.Annotations["checksum/keys"]; ok {
		t.Errorf("checksum/keys %q for a Secret the chart does not own", a)
	}
	if !sha256Hex.MatchString(dep.Spec.Template.Metadata.Annotations["checksum/policy"]) {
		t.Error("no checksum/policy annotation")
	}
}

func TestHelmReplicasWithoutAutoscaling(t *testing.T) {
	f := newHelmFixture(t)
	docs := f.render(t, "--set", "autoscaling.enabled=false,replicaCount=4")
	dep, _ := chartDeployment(t, docs)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 4 {
		t.Errorf("replicas %s, want 4 (replicaCount)", show(dep.Spec.Replicas))
	}
	if n := kindCount(docs)["HorizontalPodAutoscaler"]; n != 0 {
		t.Errorf("%d HPAs with autoscaling disabled", n)
	}
	var bud pdb
	if err := named(docs, "PodDisruptionBudget", helmRelease, &bud); err != nil {
		t.Fatal(err)
	}
	if err := checkPDB(bud, dep, 2, 4); err != nil {
		t.Error(err)
	}
}

// TestHelmRefuses checks that the chart refuses to render values that would
// deploy a tokex that cannot work, for the stated reason.
func TestHelmRefuses(t *testing.T) {
	f := newHelmFixture(t)
	notJSON := filepath.Join(f.dir, "placeholder.json")
	if err := os.WriteFile(notJSON, []byte("PLACEHOLDER"), 0o600); err != nil {
		t.Fatal(err)
	}
	withKeys := []string{"-f", f.values, "--set-file", "keys.json=" + f.keysA}
	for _, tc := range []struct {
		name string
		args []string
		want string // in helm's error
	}{
		{"neither keys.json nor existingSecret", []string{"-f", f.values}, "tokex keys generate > keys.json"},
		{"default values", nil, "keys.existingSecret"},
		{"both keys.json and existingSecret", append(withKeys, "--set", "keys.existingSecret=my-keys"), "not both"},
		{"public JWKS", []string{"-f", f.values, "--set-file", "keys.json=" + f.publicJWKS}, `no private part`},
		{"not a JWKS", []string{"-f", f.values, "--set-file", "keys.json=" + notJSON}, "not a JWK Set"},
		{"empty policy", append(withKeys, "--set", "policy="), "policy is empty"},
		{"serviceMonitor without metrics", append(withKeys, "--set", "metrics.enabled=false,serviceMonitor.enabled=true"), "needs metrics.enabled"},
		{"PDB at the HPA minimum", append(withKeys, "--set", "pdb.minAvailable=3"), "must be below the replica count"},
		{"PDB at replicaCount", append(withKeys, "--set", "autoscaling.enabled=false,replicaCount=2"), "must be below the replica count"},
		{"max below min replicas", append(withKeys, "--set", "autoscaling.maxReplicas=2"), "below autoscaling.minReplicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := f.helm.template(t, tc.args...)
			if err == nil {
				t.Fatalf("rendered %d documents, want a refusal mentioning %q", len(docs), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused, but not for the expected reason %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestHelmChecksum checks that the pods roll when the policy or the keys
// change, and only then.
func TestHelmChecksum(t *testing.T) {
	f := newHelmFixture(t)
	annotations := func(t *testing.T, docs []document) map[string]string {
		dep, _ := chartDeployment(t, docs)
		return dep.Spec.Template.Metadata.Annotations
	}
	changed := filepath.Join(f.dir, "policy-changed.yaml")
	if err := os.WriteFile(changed, []byte(strings.Replace(testPolicy, "lifetime: 1m", "lifetime: 2m", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	base := annotations(t, f.render(t))
	for _, tc := range []struct {
		name                   string
		args                   []string
		policyMoves, keysMoves bool
	}{
		{"policy changed", []string{"--set-file", "policy=" + changed}, true, false},
		{"unrelated values changed", []string{"--set", "logLevel=warn,autoscaling.maxReplicas=12"}, false, false},
		{"keys changed", []string{"--set-file", "keys.json=" + f.keysB}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := annotations(t, f.render(t, tc.args...))
			for _, a := range []struct {
				key   string
				moves bool
			}{{"checksum/policy", tc.policyMoves}, {"checksum/keys", tc.keysMoves}} {
				if base[a.key] == "" || got[a.key] == "" {
					t.Errorf("%s missing", a.key)
					continue
				}
				if moved := got[a.key] != base[a.key]; moved != a.moves {
					t.Errorf("%s changed=%v, want %v", a.key, moved, a.moves)
				}
			}
		})
	}
}

// TestHelmPolicyVerbatim checks that policies YAML could mangle (no final
// newline, trailing spaces, a leading blank line) reach the ConfigMap byte for
// byte, through --set-file as the README shows.
func TestHelmPolicyVerbatim(t *testing.T) {
	f := newHelmFixture(t)
	first, rest, _ := strings.Cut(testPolicy, "\n")
	for _, tc := range []struct{ name, policy string }{
		{"no final newline", strings.TrimSuffix(testPolicy, "\n")},
		{"trailing spaces", first + "   \n" + strings.ReplaceAll(rest, "token:\n", "token:  \n")},
		{"leading blank line and document marker", "\n---\n" + testPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(f.dir, "policy.yaml")
			if err := os.WriteFile(p, []byte(tc.policy), 0o600); err != nil {
				t.Fatal(err)
			}
			docs := f.render(t, "--set-file", "policy="+p)
			var cm configMap
			if err := named(docs, "ConfigMap", helmRelease+"-policy", &cm); err != nil {
				t.Fatal(err)
			}
			if err := checkPolicy(cm.Data["policy.yaml"], tc.policy, "/etc/tokex/keys/keys.json"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHelmMatchesManifests checks that the chart's defaults are the plain
// manifests' settings (deploy/kubernetes), so the two do not drift apart.
func TestHelmMatchesManifests(t *testing.T) {
	h := findHelm(t)
	docs, err := h.template(t, "-f", chartCIValues)
	if err != nil {
		t.Fatal(err)
	}
	dep, ctr := chartDeployment(t, docs)
	var cm configMap
	if err := named(docs, "ConfigMap", helmRelease+"-policy", &cm); err != nil {
		t.Fatal(err)
	}

	plain, _ := loadManifests(t, manifestDir)
	var pdep deployment
	var pcm configMap
	var phpa hpa
	var ppdb pdb
	for _, k := range []struct {
		kind string
		out  any
	}{{"Deployment", &pdep}, {"ConfigMap", &pcm}, {"HorizontalPodAutoscaler", &phpa}, {"PodDisruptionBudget", &ppdb}} {
		if err := only(plain, k.kind, k.out); err != nil {
			t.Fatal(err)
		}
	}
	if len(pdep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("deploy/kubernetes Deployment: want one container")
	}
	pctr := pdep.Spec.Template.Spec.Containers[0]

	same := func(what string, got, want any) error {
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: chart %+v, deploy/kubernetes %+v", what, got, want)
		}
		return nil
	}
	policyOf := func(raw string) (any, error) {
		var v any
		err := yaml.Unmarshal([]byte(raw), &v)
		return v, err
	}
	checks := []struct {
		name  string
		check func() error
	}{
		{"pod securityContext", func() error {
			return same("pod securityContext", dep.Spec.Template.Spec.SecurityContext, pdep.Spec.Template.Spec.SecurityContext)
		}},
		{"container securityContext", func() error { return same("securityContext", ctr.SecurityContext, pctr.SecurityContext) }},
		{"resources", func() error { return same("resources", ctr.Resources, pctr.Resources) }},
		{"probes", func() error {
			return errors.Join(
				same("startupProbe", ctr.StartupProbe, pctr.StartupProbe),
				same("livenessProbe", ctr.LivenessProbe, pctr.LivenessProbe),
				same("readinessProbe", ctr.ReadinessProbe, pctr.ReadinessProbe))
		}},
		{"env", func() error { return same("env", ctr.Env, pctr.Env) }},
		{"HPA and PDB", func() error {
			var chpa hpa
			var cpdb pdb
			if err := errors.Join(named(docs, "HorizontalPodAutoscaler", helmRelease, &chpa), named(docs, "PodDisruptionBudget", helmRelease, &cpdb)); err != nil {
				return err
			}
			return errors.Join(
				same("HPA minReplicas", chpa.Spec.MinReplicas, phpa.Spec.MinReplicas),
				same("HPA maxReplicas", chpa.Spec.MaxReplicas, phpa.Spec.MaxReplicas),
				same("HPA metrics", chpa.Spec.Metrics, phpa.Spec.Metrics),
				same("PDB minAvailable", cpdb.Spec.MinAvailable, ppdb.Spec.MinAvailable))
		}},
		{"example policy", func() error {
			got, err1 := policyOf(cm.Data["policy.yaml"])
			want, err2 := policyOf(pcm.Data["policy.yaml"])
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			return same("policy", got, want)
		}},
		{"example policy passes tokex's validator", func() error {
			keysPath, _ := envValue(ctr, "TOKEX_KEYS")
			_, err := config.ParsePolicy([]byte(cm.Data["policy.yaml"]), "values.yaml policy", config.Overrides{Keys: keysPath})
			return err
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(); err != nil {
				t.Error(err)
			}
		})
	}
}
