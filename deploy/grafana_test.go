package deploy

// Tests of the Grafana dashboard (grafana/tokex.json): what Grafana needs to
// import it, and that every query parses (promtool check rules on the queries
// written as recording rules). e2e/prometheus_test.go runs them against a real
// Prometheus scraping a real tokex.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/internal/promtest"
)

const dashboardFile = "grafana/tokex.json"

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	d, err := promtest.ReadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a current Grafana's (36+)", d.SchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no templating variable datasource of type datasource (query prometheus)")
	}
	ids := map[int]string{}
	for _, p := range d.AllPanels() {
		if p.ID <= 0 {
			t.Errorf("panel %q: id %d", p.Title, p.ID)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Title == "" || len(p.GridPos) == 0 {
			t.Errorf("panel %d: a title and gridPos are required", p.ID)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q %s: datasource %+v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q %s: empty expr", p.Title, tg.RefID)
			}
		}
	}
	for _, want := range []string{"tokex_reason=~\"dpop_", "invalid_dpop_proof|use_dpop_nonce", "rate_limited", "tokex_store_duration_seconds_bucket",
		"tokex_signing_key_next", "tokex_upstream_last_success_timestamp_seconds", "tokex_reloads_total", "tokex_exchange_duration_seconds_bucket"} {
		found := false
		for _, q := range d.Queries("1m") {
			found = found || strings.Contains(q.Expr, want)
		}
		if !found {
			t.Errorf("no dashboard query uses %s", want)
		}
	}
}

// TestGrafanaDashboardQueriesParse: promtool checks every query, written as
// a recording rule.
func TestGrafanaDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	promtool := promtest.Lookup(t, "promtool")
	d, err := promtest.ReadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules []map[string]string
	for i, q := range d.Queries("1m") {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query_%d", i), "expr": q.Expr})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules (the dashboard's queries): %v\n%s", err, out)
	}
}
