package deploy

// Tests of the alerting rules (prometheus/rules.yaml) with promtool: the file
// is valid, and its unit tests (prometheus/rules_test.yaml) pass, with
// synthetic series for every alert, firing where it should and silent where
// it should not. The end-to-end check against a real Prometheus scraping a
// real tokex is e2e/prometheus_test.go.

import (
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/internal/promtest"
)

const (
	rulesFile     = "prometheus/rules.yaml"
	rulesTestFile = "prometheus/rules_test.yaml"
	chartRules    = "helm/tokex/files/rules.yaml"
)

func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := promtest.Lookup(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", rulesTestFile},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestPrometheusRulesEveryAlertTested: every alert in rules.yaml has unit
// tests that expect it to fire (exp_labels) and to stay silent (exp_alerts: []).
func TestPrometheusRulesEveryAlertTested(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\w+)`).FindAllSubmatch(rules, -1)
	if len(alerts) == 0 {
		t.Fatal("no alerts in " + rulesFile)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, m := range regexp.MustCompile(`alertname: (\w+)\n\s+exp_alerts:( \[\])?`).FindAllSubmatch(tests, -1) {
		if len(m[2]) > 0 {
			silent[string(m[1])] = true
		} else {
			fires[string(m[1])] = true
		}
	}
	var names []string
	for _, a := range alerts {
		name := string(a[1])
		names = append(names, name)
		if !fires[name] {
			t.Errorf("%s: no unit test expects it to fire", name)
		}
		if !silent[name] {
			t.Errorf("%s: no unit test expects it to stay silent", name)
		}
	}
	for name := range fires {
		if !slices.Contains(names, name) {
			t.Errorf("%s is tested but not in %s", name, rulesFile)
		}
	}
}

// TestHelmPrometheusRule: prometheusRule.enabled renders one PrometheusRule
// whose groups are rules.yaml's, with the extra labels; off by default. The
// chart's copy of the rules (helm reads only files inside the chart) is
// byte-identical to rules.yaml.
func TestHelmPrometheusRule(t *testing.T) {
	want, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(chartRules); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s differs from %s (%v): cp %s %s", chartRules, rulesFile, err, rulesFile, chartRules)
	}
	var wantGroups struct {
		Groups []map[string]any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(want, &wantGroups); err != nil {
		t.Fatal(err)
	}
	f := newHelmFixture(t)
	if n := kindCount(f.render(t))["PrometheusRule"]; n != 0 {
		t.Errorf("%d PrometheusRules by default, want none", n)
	}
	docs := f.render(t, "--set", "prometheusRule.enabled=true,prometheusRule.labels.release=kube-prometheus")
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Metadata   struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Groups []map[string]any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := named(docs, "PrometheusRule", helmRelease, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("apiVersion %s", pr.APIVersion)
	}
	if pr.Metadata.Labels["release"] != "kube-prometheus" || pr.Metadata.Labels["app.kubernetes.io/name"] == "" {
		t.Errorf("labels %v, want the chart's and release=kube-prometheus", pr.Metadata.Labels)
	}
	if !reflect.DeepEqual(pr.Spec.Groups, wantGroups.Groups) {
		t.Errorf("spec.groups differ from %s", rulesFile)
	}
}
