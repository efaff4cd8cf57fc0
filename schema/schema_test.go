package schema_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/internal/config"
	"github.com/tokex/tokex/internal/demo"
	"github.com/tokex/tokex/internal/policy"
)

const schemaFile = "policy.schema.json"

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s is not JSON: %v", schemaFile, err)
	}
	return s
}

// TestSchemaMatchesConfigTypes: every yaml key of the config structs has a
// schema property and every schema property a yaml key, and every object of
// the schema forbids other properties. It fails when a config field is added
// without a schema entry: add the property to policy.schema.json.
func TestSchemaMatchesConfigTypes(t *testing.T) {
	root := readSchema(t)
	defs, _ := root["$defs"].(map[string]any)
	resolve := func(n map[string]any) map[string]any {
		for {
			ref, ok := n["$ref"].(string)
			if !ok {
				return n
			}
			name, found := strings.CutPrefix(ref, "#/$defs/")
			d, ok := defs[name].(map[string]any)
			if !found || !ok {
				t.Fatalf("unresolvable $ref %q", ref)
			}
			n = d
		}
	}
	durationType := reflect.TypeFor[config.Duration]()
	var walk func(typ reflect.Type, node map[string]any, path string)
	walk = func(typ reflect.Type, node map[string]any, path string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		node = resolve(node)
		switch {
		case typ == durationType:
			if node["type"] != "string" {
				t.Errorf("%s: a duration, but the schema type is %v", path, node["type"])
			}
			return
		case typ.Kind() == reflect.Struct:
			if node["type"] != "object" || node["additionalProperties"] != false {
				t.Errorf("%s: want type object and additionalProperties false", path)
			}
			props, _ := node["properties"].(map[string]any)
			var keys []string
			for i := range typ.NumField() {
				f := typ.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if name == "" || name == "-" {
					continue
				}
				keys = append(keys, name)
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("%s.%s (%s.%s): no property in %s", path, name, typ.Name(), f.Name, schemaFile)
					continue
				}
				walk(f.Type, p, path+"."+name)
			}
			for name := range props {
				if !slices.Contains(keys, name) {
					t.Errorf("%s.%s: in %s but not a yaml key of %s", path, name, schemaFile, typ.Name())
				}
			}
		case typ.Kind() == reflect.Slice:
			items, ok := node["items"].(map[string]any)
			if node["type"] != "array" || !ok {
				t.Errorf("%s: a list, want type array with items", path)
				return
			}
			walk(typ.Elem(), items, path+"[]")
		case typ.Kind() == reflect.Map:
			vals, ok := node["additionalProperties"].(map[string]any)
			if node["type"] != "object" || !ok {
				t.Errorf("%s: a map, want type object with an additionalProperties schema", path)
				return
			}
			walk(typ.Elem(), vals, path+".*")
		case typ.Kind() == reflect.String:
			if node["type"] != "string" {
				t.Errorf("%s: a string, but the schema type is %v", path, node["type"])
			}
		case typ.Kind() == reflect.Bool:
			if node["type"] != "boolean" {
				t.Errorf("%s: a bool, but the schema type is %v", path, node["type"])
			}
		case typ.Kind() == reflect.Int:
			if node["type"] != "integer" {
				t.Errorf("%s: an int, but the schema type is %v", path, node["type"])
			}
		case typ.Kind() == reflect.Float64:
			if node["type"] != "number" {
				t.Errorf("%s: a float, but the schema type is %v", path, node["type"])
			}
		case typ.Kind() == reflect.Interface:
			// free-form in Go (inline JWKS); the schema describes it.
		default:
			t.Errorf("%s: Go type %s has no rule in this test", path, typ)
		}
	}
	walk(reflect.TypeFor[config.Policy](), root, "policy")
}

func compile(t *testing.T) *jsonschema.Schema { return compileRef(t, "") }

// compileRef compiles the schema, or the part of it ref points at.
func compileRef(t *testing.T, ref string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(schemaFile + ref)
	if err != nil {
		t.Fatalf("compile %s%s: %v", schemaFile, ref, err)
	}
	return s
}

// validateYAML validates a YAML policy against the schema, through JSON as an
// editor's language server does.
func validateYAML(s *jsonschema.Schema, doc []byte) error {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return err
	}
	return validateValue(s, v)
}

// validateValue validates YAML-decoded data, through JSON.
func validateValue(s *jsonschema.Schema, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestExamplesValidate: the demo policy, the README's policy snippets and
// every deploy/examples/*.yaml validate against the schema, and load.
func TestExamplesValidate(t *testing.T) {
	s := compile(t)
	idp, err := demo.New("https://sts.example.com", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := idp.Policy()
	if err != nil {
		t.Fatal(err)
	}
	examples := map[string][]byte{"demo policy": doc}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// README snippets use "<...>" placeholders for digests.
	placeholder := regexp.MustCompile(`"<[^">]+>"`)
	snippets := 0
	fragments := map[string][]byte{} // a rules: list alone, to show a rule's keys
	for i, block := range yamlBlocks(string(readme)) {
		if !strings.Contains(block, "rules:") {
			continue // a fragment, not a policy
		}
		name, doc := fmt.Sprintf("README yaml block %d", i), []byte(placeholder.ReplaceAllString(block, strings.Repeat("ab", 32)))
		if strings.HasPrefix(block, "rules:") {
			fragments[name] = doc
			continue
		}
		snippets++
		examples[name] = doc
	}
	if snippets == 0 {
		t.Fatal("no policy snippet found in README.md")
	}
	rule := compileRef(t, "#/$defs/rule")
	for name, doc := range fragments {
		t.Run(name, func(t *testing.T) {
			var frag struct {
				Rules []any `yaml:"rules"`
			}
			if err := yaml.Unmarshal(doc, &frag); err != nil || len(frag.Rules) == 0 {
				t.Fatalf("not a rules: list (%v)", err)
			}
			for i, r := range frag.Rules {
				if err := validateValue(rule, r); err != nil {
					t.Errorf("rules[%d] does not validate:\n%v", i, err)
				}
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("..", "deploy", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples[f] = b
	}
	for name, doc := range examples {
		t.Run(name, func(t *testing.T) {
			if err := validateYAML(s, doc); err != nil {
				t.Errorf("does not validate:\n%v", err)
			}
			// And it is a policy tokex accepts, so the schema is not looser
			// than the examples need nor the examples stale.
			cfg, err := config.ParsePolicy(doc, name, config.Overrides{})
			if err == nil {
				_, err = policy.Compile(cfg)
			}
			if err != nil {
				t.Errorf("tokex refuses it: %v", err)
			}
		})
	}
}

// yamlBlocks are the ```yaml fenced blocks of a Markdown document.
func yamlBlocks(md string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(md, "```yaml\n")
		if !ok {
			return out
		}
		block, after, _ := strings.Cut(rest, "```")
		out = append(out, block)
		md = after
	}
}

// TestSchemaRefuses: the schema catches the mistakes an editor should flag.
func TestSchemaRefuses(t *testing.T) {
	s := compile(t)
	const base = `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
clients:
  - id: orders
    secret_sha256: 0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b
rules:
  - name: r
    clients: [orders]
    issuers: [corp]
    audience: https://inventory.example.com
    scopes: [inventory.read]
`
	if err := validateYAML(s, []byte(base)); err != nil {
		t.Fatalf("the base policy does not validate: %v", err)
	}
	tests := []struct{ name, old, new string }{
		{name: "unknown top-level key", old: "issuer:", new: "isuer:"},
		{name: "unknown rule key", old: "    scopes:", new: "    scope:"},
		{name: "HMAC algorithm", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    algorithms: [HS256]\n"},
		{name: "bad duration", old: "    scopes:", new: "    lifetime: 5 minutes\n    scopes:"},
		{name: "secret not a digest", old: "secret_sha256: 0b8d", new: "secret_sha256: x0b8d"},
		{name: "reserved mapped claim", old: "    scopes:", new: "    claims: {sub: claims.email}\n    scopes:"},
		{name: "private key inline", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    jwks: {keys: [{kty: oct, k: c2VjcmV0}]}\n"},
		{name: "no rules", old: "rules:\n", new: "rulez:\n"},
		{name: "template issuer without tenants", old: "issuer_url: https://idp.example.com\n", new: "issuer_url: https://idp.example.com/{tenantid}/v2.0\n"},
		{name: "tenants without a template", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    tenants: [t1]\n"},
		{name: "tenant with a slash", old: "issuer_url: https://idp.example.com\n", new: "issuer_url: https://idp.example.com/{tenantid}/v2.0\n    tenants: [t1/x]\n"},
		{name: "tenant dot-dot", old: "issuer_url: https://idp.example.com\n", new: "issuer_url: https://idp.example.com/{tenantid}/v2.0\n    tenants: [\"..\"]\n"},
		{name: "any tenant beside others", old: "issuer_url: https://idp.example.com\n", new: "issuer_url: https://idp.example.com/{tenantid}/v2.0\n    tenants: [\"*\", t1]\n"},
		{name: "validate rule without message", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    validate: [{expr: claims.ok}]\n"},
		{name: "unknown audience_claim", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    audience_claim: azp\n"},
		{name: "id_token without id_token_audiences", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    token_types: [id_token]\n"},
		{name: "jwks_file and jwks_uri", old: "    issuer_url: https://idp.example.com\n", new: "    issuer_url: https://idp.example.com\n    jwks_uri: https://idp.example.com/jwks\n    jwks_file: jwks.json\n"},
		{name: "unknown client auth", old: "  - id: orders\n", new: "  - id: orders\n    auth: client_secret_jwt\n"},
		{name: "private_key_jwt without keys", old: "    secret_sha256: 0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b\n", new: "    auth: private_key_jwt\n"},
		{name: "private_key_jwt with a secret", old: "  - id: orders\n", new: "  - id: orders\n    auth: private_key_jwt\n    jwks_uri: https://orders.example.com/jwks\n"},
		{name: "negative rate", old: "rules:\n", new: "rate_limits: {client: {per_second: -1}}\nrules:\n"},
		{name: "delegation without actor_issuers", old: "    scopes:", new: "    delegation: allowed\n    scopes:"},
		{name: "actor_issuers while delegation is forbidden", old: "    scopes:", new: "    actor_issuers: [corp]\n    scopes:"},
		{name: "unauthenticated rule naming clients", old: "    scopes:", new: "    allow_unauthenticated: true\n    scopes:"},
		{name: "delegation depth over the cap", old: "rules:\n", new: "token: {max_delegation_depth: 33}\nrules:\n"},
		{name: "unknown profile", old: "    scopes:", new: "    profile: refresh_token\n    scopes:"},
		{name: "txn_token rule without trust_domain", old: "    audience: https://inventory.example.com\n", new: "    profile: txn_token\n"},
		{name: "txn_token rule with audience", old: "    audience:", new: "    profile: txn_token\n    trust_domain: https://trust.example.com\n    audience:"},
		{name: "txn_token rule sender-constrained", old: "    audience: https://inventory.example.com\n", new: "    profile: txn_token\n    trust_domain: https://trust.example.com\n    sender_constraint: dpop\n"},
		{name: "txn_token rule with too many replacements", old: "    audience: https://inventory.example.com\n", new: "    profile: txn_token\n    trust_domain: https://trust.example.com\n    max_replacements: 17\n"},
		{name: "trust_domain on an access-token rule", old: "    scopes:", new: "    trust_domain: https://trust.example.com\n    scopes:"},
		{name: "id_jag rule without authorization_servers", old: "    audience: https://inventory.example.com\n    scopes: [inventory.read]\n", new: "    profile: id_jag\n"},
		{name: "id_jag rule with rule-level scopes", old: "    audience: https://inventory.example.com\n", new: "    profile: id_jag\n    authorization_servers: [{issuer: https://as.example.com, client_id: c, scopes: [a]}]\n"},
		{name: "id_jag server without client_id", old: "    audience: https://inventory.example.com\n    scopes: [inventory.read]\n", new: "    profile: id_jag\n    authorization_servers: [{issuer: https://as.example.com, scopes: [a]}]\n"},
		{name: "authorization_servers on an access-token rule", old: "    scopes:", new: "    authorization_servers: [{issuer: https://as.example.com, client_id: c, scopes: [a]}]\n    scopes:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(base, tc.old, tc.new, 1)
			if doc == base {
				t.Fatalf("%q not in the base policy", tc.old)
			}
			if err := validateYAML(s, []byte(doc)); err == nil {
				t.Errorf("validates:\n%s", doc)
			}
		})
	}
}

// TestSchemaAccepts: policies tokex loads validate, for the keys the README
// and deploy/examples do not show (the schema is not stricter than tokex).
func TestSchemaAccepts(t *testing.T) {
	s := compile(t)
	tests := []struct{ name, doc string }{
		{name: "client authentication methods and rate limits", doc: `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    token_types: [access_token, id_token]
    id_token_audiences: [web-app]
clients:
  - id: batch
    auth: private_key_jwt
    jwks_uri: https://batch.example.com/jwks
  - id: mesh
    auth: tls_client_auth
    tls_client_auth_san_dns: mesh.example.com
    rate_limits: {client: {per_second: 0}}
  - id: web
    auth: client_secret_post
    secret_sha256: 0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b
rate_limits: {client: {per_second: 2.5, burst: 5}, subject: {per_second: 1}}
token: {max_delegation_depth: 2}
rules:
  - name: r
    clients: [batch, mesh, web]
    issuers: [corp]
    audience: https://inventory.example.com
    scopes: [inventory.read]
    delegation: required
    actor_issuers: [corp]
    actor_require: 'actor.sub == "svc"'
`},
		{name: "Transaction Token and ID-JAG profiles", doc: `issuer: https://sts.example.com
issuers:
  - name: corp
    issuer_url: https://idp.example.com
    token_types: [access_token, id_token]
    id_token_audiences: [chat]
clients:
  - id: gateway
    secret_sha256: 0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b
  - id: chat
    secret_sha256: 0b8d3f7c6e0a5f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b
rules:
  - name: txn
    profile: txn_token
    clients: [gateway]
    issuers: [corp]
    trust_domain: https://trust.example.com
    scopes: [checkout]
    lifetime: 2m
    require: 'request_details.amount < 1000'
    tctx: {tier: claims.tier}
    rctx: {req_ip: request_context.req_ip}
    max_replacements: 2
  - name: xaa
    profile: id_jag
    clients: [chat]
    issuers: [corp]
    sender_constraint: dpop
    authorization_servers:
      - issuer: https://as.wiki.example
        client_id: chat-at-wiki
        scopes: [wiki.read]
        resources: [https://api.wiki.example]
`},
		{name: "public federation only, no clients", doc: `issuer: https://sts.example.com
issuers:
  - name: entra
    issuer_url: https://login.microsoftonline.com/{tenantid}/v2.0
    tenants: ["*"]
    audiences: [api://tokex]
    subject: claims.oid
    subject_prefix: "entra:"
rules:
  - name: public
    allow_unauthenticated: true
    issuers: [entra]
    audience: https://public.example.com
    scopes: [public.read]
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateYAML(s, []byte(tc.doc)); err != nil {
				t.Errorf("does not validate:\n%v", err)
			}
			cfg, err := config.ParsePolicy([]byte(tc.doc), tc.name, config.Overrides{})
			if err == nil {
				_, err = policy.Compile(cfg)
			}
			if err != nil {
				t.Errorf("tokex refuses it: %v", err)
			}
		})
	}
}
