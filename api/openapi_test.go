package api_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokex/tokex/api"
)

// openAPIPath is the document this test keeps in step with package api.
const openAPIPath = "../openapi.yaml"

// The parts of an OpenAPI 3.1 document these tests read. Unknown keys are ignored.
type (
	oaDocument struct {
		OpenAPI    string                 `yaml:"openapi"`
		Paths      map[string]*oaPathItem `yaml:"paths"`
		Components struct {
			Schemas   map[string]*oaSchema   `yaml:"schemas"`
			Responses map[string]*oaResponse `yaml:"responses"`
		} `yaml:"components"`
	}
	oaPathItem struct {
		Get     *oaOperation `yaml:"get"`
		Put     *oaOperation `yaml:"put"`
		Post    *oaOperation `yaml:"post"`
		Delete  *oaOperation `yaml:"delete"`
		Options *oaOperation `yaml:"options"`
		Head    *oaOperation `yaml:"head"`
		Patch   *oaOperation `yaml:"patch"`
		Trace   *oaOperation `yaml:"trace"`
	}
	oaOperation struct {
		RequestBody *struct {
			Content map[string]*oaMediaType `yaml:"content"`
		} `yaml:"requestBody"`
		Responses map[string]*oaResponse `yaml:"responses"`
	}
	oaResponse struct {
		Ref     string                  `yaml:"$ref"`
		Headers map[string]any          `yaml:"headers"`
		Content map[string]*oaMediaType `yaml:"content"`
	}
	oaMediaType struct {
		Schema *oaSchema `yaml:"schema"`
	}
	oaSchema struct {
		Ref        string               `yaml:"$ref"`
		Properties map[string]*oaSchema `yaml:"properties"`
		Required   []string             `yaml:"required"`
		Enum       []string             `yaml:"enum"`
		Items      *oaSchema            `yaml:"items"`
	}
)

// operations returns the operations of a path item by lower-case method.
func (p *oaPathItem) operations() map[string]*oaOperation {
	all := map[string]*oaOperation{
		"get": p.Get, "put": p.Put, "post": p.Post, "delete": p.Delete,
		"options": p.Options, "head": p.Head, "patch": p.Patch, "trace": p.Trace,
	}
	for m, op := range all {
		if op == nil {
			delete(all, m)
		}
	}
	return all
}

// loadOpenAPI reads openapi.yaml both as the typed document and as a YAML node tree.
func loadOpenAPI(t *testing.T) (*oaDocument, *yaml.Node) {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIPath, err)
	}
	var doc oaDocument
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("parse %s as nodes: %v", openAPIPath, err)
	}
	return &doc, &root
}

// componentSchema returns components.schemas[name], failing the test when it is absent.
func componentSchema(t *testing.T, doc *oaDocument, name string) *oaSchema {
	t.Helper()
	s, ok := doc.Components.Schemas[name]
	if !ok || s == nil {
		t.Fatalf("components.schemas.%s is missing", name)
	}
	return s
}

// property returns schema.properties[name], failing the test when it is absent.
func property(t *testing.T, s *oaSchema, schemaName, name string) *oaSchema {
	t.Helper()
	p, ok := s.Properties[name]
	if !ok || p == nil {
		t.Fatalf("components.schemas.%s.properties.%s is missing", schemaName, name)
	}
	return p
}

// schemaRefName returns the component name a "#/components/schemas/NAME" reference points to.
func schemaRefName(t *testing.T, s *oaSchema) string {
	t.Helper()
	const prefix = "#/components/schemas/"
	if s == nil || !strings.HasPrefix(s.Ref, prefix) {
		t.Fatalf("schema is not a reference to %s...: %+v", prefix, s)
	}
	return strings.TrimPrefix(s.Ref, prefix)
}

// resolveResponse follows a "#/components/responses/NAME" reference.
func resolveResponse(t *testing.T, doc *oaDocument, r *oaResponse) *oaResponse {
	t.Helper()
	const prefix = "#/components/responses/"
	if r == nil || r.Ref == "" {
		return r
	}
	if !strings.HasPrefix(r.Ref, prefix) {
		t.Fatalf("response reference %q is not under %s", r.Ref, prefix)
	}
	resolved, ok := doc.Components.Responses[strings.TrimPrefix(r.Ref, prefix)]
	if !ok || resolved == nil {
		t.Fatalf("response reference %q does not resolve", r.Ref)
	}
	return resolved
}

// jsonFields returns the JSON member names of struct type typ as encoding/json
// marshals them, and the subset without omitempty (always present).
func jsonFields(t *testing.T, typ reflect.Type) (names, required []string) {
	t.Helper()
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		if f.Anonymous {
			t.Fatalf("%s.%s: embedded fields are not handled by this test", typ.Name(), f.Name)
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			required = append(required, name)
		}
	}
	return names, required
}

// formFields returns the `form:` tag names of struct type typ.
func formFields(t *testing.T, typ reflect.Type) []string {
	t.Helper()
	var names []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("form"), ",")
		if name == "" || name == "-" {
			t.Fatalf("%s.%s has no form tag", typ.Name(), f.Name)
		}
		names = append(names, name)
	}
	return names
}

// sameSet reports whether got and want hold the same strings the same number of times.
func sameSet(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestOpenAPIVersion(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(doc.OpenAPI) {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
}

func TestOpenAPIPaths(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	want := []struct {
		path    string
		methods []string
	}{
		{path: "/token", methods: []string{"post"}},
		{path: "/.well-known/jwks.json", methods: []string{"get"}},
		{path: "/.well-known/oauth-authorization-server", methods: []string{"get"}},
		{path: "/.well-known/oauth-authorization-server/{issuerPath}", methods: []string{"get"}},
		{path: "/.well-known/openid-configuration", methods: []string{"get"}},
		{path: "/healthz", methods: []string{"get"}},
		{path: "/readyz", methods: []string{"get"}},
		{path: "/demo/token", methods: []string{"post"}},
	}
	var wantPaths []string
	for _, w := range want {
		wantPaths = append(wantPaths, w.path)
	}
	if got := sortedKeys(doc.Paths); !sameSet(got, wantPaths) {
		t.Fatalf("paths = %q, want %q", got, slices.Sorted(slices.Values(wantPaths)))
	}
	for _, tc := range want {
		t.Run(tc.path, func(t *testing.T) {
			item := doc.Paths[tc.path]
			if item == nil {
				t.Fatalf("path %s has no operations", tc.path)
			}
			if got := sortedKeys(item.operations()); !sameSet(got, tc.methods) {
				t.Errorf("methods = %q, want %q", got, tc.methods)
			}
		})
	}
}

func TestOpenAPISchemasMatchJSONTypes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	tests := []struct {
		name string // components.schemas key
		typ  reflect.Type
	}{
		{name: "TokenResponse", typ: reflect.TypeFor[api.TokenResponse]()},
		{name: "ErrorResponse", typ: reflect.TypeFor[api.ErrorResponse]()},
		{name: "ServerMetadata", typ: reflect.TypeFor[api.ServerMetadata]()},
		{name: "HealthResponse", typ: reflect.TypeFor[api.HealthResponse]()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := componentSchema(t, doc, tc.name)
			names, required := jsonFields(t, tc.typ)
			if got := sortedKeys(s.Properties); !sameSet(got, names) {
				t.Errorf("properties = %q, want the json names of %s: %q", got, tc.typ, names)
			}
			if !sameSet(s.Required, required) {
				t.Errorf("required = %q, want the json names of %s without omitempty: %q", s.Required, tc.typ, required)
			}
		})
	}
}

func TestOpenAPITokenRequestMatchesFormTags(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	s := componentSchema(t, doc, "TokenRequest")

	t.Run("properties", func(t *testing.T) {
		want := formFields(t, reflect.TypeFor[api.TokenRequest]())
		if got := sortedKeys(s.Properties); !sameSet(got, want) {
			t.Errorf("properties = %q, want the form tags of api.TokenRequest: %q", got, want)
		}
	})
	t.Run("required", func(t *testing.T) {
		// subject_token and subject_token_type are required by token exchange
		// only; the JWT bearer grant sends assertion instead.
		want := []string{api.ParamGrantType}
		if !sameSet(s.Required, want) {
			t.Errorf("required = %q, want %q", s.Required, want)
		}
	})
}

func TestOpenAPIErrorCodes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	codes := []api.ErrorCode{
		api.ErrInvalidRequest,
		api.ErrInvalidClient,
		api.ErrInvalidGrant,
		api.ErrUnauthorizedClient,
		api.ErrUnsupportedGrantType,
		api.ErrInvalidScope,
		api.ErrInvalidTarget,
		api.ErrTemporarilyUnavailable,
		api.ErrServerError,
		api.ErrInvalidDPoPProof,
		api.ErrUseDPoPNonce,
	}
	want := make([]string, len(codes))
	for i, c := range codes {
		want[i] = string(c)
	}
	s := componentSchema(t, doc, "ErrorResponse")
	got := property(t, s, "ErrorResponse", "error").Enum
	if !sameSet(got, want) {
		t.Errorf("ErrorResponse.error enum = %q, want the api.ErrorCode constants %q", got, want)
	}
}

func TestOpenAPIEnumsAreAPIConstants(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	tests := []struct {
		name     string
		schema   string // components.schemas key
		property string
		items    bool // the enum is on the array's items
		want     []string
	}{
		{
			name: "grant_type", schema: "TokenRequest", property: api.ParamGrantType,
			want: []string{api.GrantTypeTokenExchange, api.GrantTypeJWTBearer},
		},
		{
			name: "subject_token_type", schema: "TokenRequest", property: api.ParamSubjectTokenType,
			want: []string{api.TokenTypeAccessToken, api.TokenTypeJWT, api.TokenTypeIDToken, api.TokenTypeTxnToken},
		},
		{
			name: "actor_token_type", schema: "TokenRequest", property: api.ParamActorTokenType,
			want: []string{api.TokenTypeAccessToken, api.TokenTypeJWT, api.TokenTypeIDToken},
		},
		{
			name: "requested_token_type", schema: "TokenRequest", property: api.ParamRequestedTokenType,
			want: []string{api.TokenTypeAccessToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG},
		},
		{
			name: "client_assertion_type", schema: "TokenRequest", property: api.ParamClientAssertionType,
			want: []string{api.ClientAssertionTypeJWTBearer},
		},
		{
			name: "issued_token_type", schema: "TokenResponse", property: "issued_token_type",
			want: []string{api.TokenTypeAccessToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG},
		},
		{
			name: "token_type", schema: "TokenResponse", property: "token_type",
			want: []string{api.TokenTypeBearer, api.TokenTypeDPoP, api.TokenTypeNA},
		},
		{
			name: "identity_chaining_requested_token_types_supported", schema: "ServerMetadata", property: "identity_chaining_requested_token_types_supported", items: true,
			want: []string{api.TokenTypeAccessToken, api.TokenTypeTxnToken, api.TokenTypeIDJAG},
		},
		{
			name: "grant_types_supported", schema: "ServerMetadata", property: "grant_types_supported", items: true,
			want: []string{api.GrantTypeTokenExchange, api.GrantTypeJWTBearer},
		},
		{
			name: "token_endpoint_auth_methods_supported", schema: "ServerMetadata",
			property: "token_endpoint_auth_methods_supported", items: true,
			want: []string{api.AuthMethodClientSecretBasic, api.AuthMethodClientSecretPost, api.AuthMethodPrivateKeyJWT, api.AuthMethodTLSClientAuth, api.AuthMethodSelfSignedTLSClientAuth, api.AuthMethodNone},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := property(t, componentSchema(t, doc, tc.schema), tc.schema, tc.property)
			if tc.items {
				if p.Items == nil {
					t.Fatalf("%s.%s has no items", tc.schema, tc.property)
				}
				p = p.Items
			}
			if !sameSet(p.Enum, tc.want) {
				t.Errorf("%s.%s enum = %q, want %q", tc.schema, tc.property, p.Enum, tc.want)
			}
		})
	}
}

// TestOpenAPIURNsAreAPIConstants checks every OAuth URN anywhere in the document
// (enums, examples, descriptions) against the constants of package api, so a typo
// in an example cannot teach clients a wrong URN.
func TestOpenAPIURNsAreAPIConstants(t *testing.T) {
	_, root := loadOpenAPI(t)
	known := []string{
		api.GrantTypeTokenExchange,
		api.GrantTypeJWTBearer,
		api.TokenTypeAccessToken,
		api.TokenTypeRefreshToken,
		api.TokenTypeIDToken,
		api.TokenTypeJWT,
		api.TokenTypeSAML1,
		api.TokenTypeSAML2,
		api.TokenTypeTxnToken,
		api.TokenTypeIDJAG,
		api.ClientAssertionTypeJWTBearer,
	}
	urn := regexp.MustCompile(`(?i)urn:ietf:params:oauth:[a-z0-9._:-]*[a-z0-9_]`)
	var found []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range urn.FindAllString(n.Value, -1) {
				found = append(found, m)
				if !slices.Contains(known, m) {
					t.Errorf("line %d: URN %q is not a constant of package api", n.Line, m)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if len(found) == 0 {
		t.Error("no OAuth URN found in the document")
	}
}

func TestOpenAPIOperationSchemas(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	tests := []struct {
		name        string
		path        string
		method      string
		status      string // "" for the request body
		mediaType   string
		schema      string   // components.schemas key the body refers to; "" for any inline schema
		wantHeaders []string // response headers that must be declared
	}{
		{name: "token request", path: "/token", method: "post", mediaType: "application/x-www-form-urlencoded", schema: "TokenRequest"},
		{name: "token 200", path: "/token", method: "post", status: "200", mediaType: "application/json", schema: "TokenResponse", wantHeaders: []string{"Cache-Control"}},
		{name: "token 400", path: "/token", method: "post", status: "400", mediaType: "application/json", schema: "ErrorResponse"},
		{name: "token 401", path: "/token", method: "post", status: "401", mediaType: "application/json", schema: "ErrorResponse", wantHeaders: []string{"WWW-Authenticate"}},
		{name: "token 413", path: "/token", method: "post", status: "413", mediaType: "application/json", schema: "ErrorResponse", wantHeaders: []string{"Connection"}},
		{name: "token 503", path: "/token", method: "post", status: "503", mediaType: "application/json", schema: "ErrorResponse"},
		{name: "jwks 200", path: "/.well-known/jwks.json", method: "get", status: "200", mediaType: "application/json", schema: "JWKSet", wantHeaders: []string{"Cache-Control", "ETag"}},
		{name: "metadata 200", path: "/.well-known/oauth-authorization-server", method: "get", status: "200", mediaType: "application/json", schema: "ServerMetadata"},
		{name: "metadata with issuer path 200", path: "/.well-known/oauth-authorization-server/{issuerPath}", method: "get", status: "200", mediaType: "application/json", schema: "ServerMetadata"},
		{name: "openid-configuration 200", path: "/.well-known/openid-configuration", method: "get", status: "200", mediaType: "application/json", schema: "ServerMetadata"},
		{name: "healthz 200", path: "/healthz", method: "get", status: "200", mediaType: "application/json", schema: "HealthResponse"},
		{name: "readyz 200", path: "/readyz", method: "get", status: "200", mediaType: "application/json", schema: "HealthResponse"},
		{name: "readyz 503", path: "/readyz", method: "get", status: "503", mediaType: "application/json", schema: "HealthResponse"},
		{name: "demo request", path: "/demo/token", method: "post", mediaType: "application/x-www-form-urlencoded"},
		{name: "demo 200", path: "/demo/token", method: "post", status: "200", mediaType: "application/json", schema: "TokenResponse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			item := doc.Paths[tc.path]
			if item == nil {
				t.Fatalf("path %s is missing", tc.path)
			}
			op := item.operations()[tc.method]
			if op == nil {
				t.Fatalf("%s %s is missing", tc.method, tc.path)
			}
			var content map[string]*oaMediaType
			if tc.status == "" {
				if op.RequestBody == nil {
					t.Fatalf("%s %s has no requestBody", tc.method, tc.path)
				}
				content = op.RequestBody.Content
			} else {
				r := resolveResponse(t, doc, op.Responses[tc.status])
				if r == nil {
					t.Fatalf("%s %s has no %s response", tc.method, tc.path, tc.status)
				}
				for _, h := range tc.wantHeaders {
					if _, ok := r.Headers[h]; !ok {
						t.Errorf("%s response does not declare header %s", tc.status, h)
					}
				}
				content = r.Content
			}
			mt := content[tc.mediaType]
			if mt == nil || mt.Schema == nil {
				t.Fatalf("no %s schema; content types: %q", tc.mediaType, sortedKeys(content))
			}
			if tc.schema == "" {
				return
			}
			if got := schemaRefName(t, mt.Schema); got != tc.schema {
				t.Errorf("schema = %s, want %s", got, tc.schema)
			}
		})
	}
}

// TestOpenAPIDemoTokenForm checks the demo endpoint's form: sub required, scope and aud optional.
func TestOpenAPIDemoTokenForm(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	item := doc.Paths["/demo/token"]
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		t.Fatal("POST /demo/token has no requestBody")
	}
	mt := item.Post.RequestBody.Content["application/x-www-form-urlencoded"]
	if mt == nil || mt.Schema == nil {
		t.Fatal("POST /demo/token has no form schema")
	}
	if got, want := sortedKeys(mt.Schema.Properties), []string{"aud", "scope", "sub"}; !slices.Equal(got, want) {
		t.Errorf("properties = %q, want %q", got, want)
	}
	if got, want := mt.Schema.Required, []string{"sub"}; !slices.Equal(got, want) {
		t.Errorf("required = %q, want %q", got, want)
	}
}
