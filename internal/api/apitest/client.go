package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	analyticsscanner "github.com/centos-pipeline/analytics-scanner"
)

// Spec is openapi.yaml, loaded, validated and routable.
type Spec struct {
	Doc    *openapi3.T
	Router routers.Router
}

var (
	specOnce sync.Once
	spec     *Spec
	specErr  error
)

func init() {
	// The page's entry points answer HTML, which kin-openapi has no
	// decoder for; as text, it is checked against their string schema.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// LoadSpec returns the embedded openapi.yaml after checking that it is a
// valid OpenAPI document, examples included. It fails t otherwise.
func LoadSpec(t testing.TB) *Spec {
	t.Helper()
	specOnce.Do(func() { spec, specErr = loadSpec(analyticsscanner.OpenAPI) })
	if specErr != nil {
		t.Fatalf("openapi.yaml: %v", specErr)
	}
	return spec
}

func loadSpec(data []byte) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &Spec{Doc: doc, Router: router}, nil
}

// Client calls an API server. Each request and each response is validated
// against openapi.yaml and every mismatch fails the test; this is the only
// way the API's tests talk to a server.
//
// A test that sends a request the contract forbids (malformed JSON, no
// token, an unknown path...) marks it with NonConforming: the client then
// checks that the contract does reject it, so the spec documents every
// constraint the tests rely on, and still validates the response.
type Client struct {
	t    testing.TB
	base *url.URL
	spec *Spec
	// token is sent as a bearer token with requests that carry no
	// Authorization, and is the only token the validator accepts.
	token string
	http  *http.Client
}

// NewClient returns a client of the server at baseURL (an httptest
// server's URL). When token is not empty the client sends it and the
// contract's bearer security is enforced with it.
func NewClient(t testing.TB, baseURL, token string) *Client {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("base URL: %v", err)
	}
	c := &Client{t: t, base: u, spec: LoadSpec(t), token: token}
	c.http = &http.Client{
		Transport: &validatingTransport{c: c, next: http.DefaultTransport},
		Timeout:   2 * time.Minute,
	}
	return c
}

type nonConformingKey struct{}

// NonConforming marks req as one openapi.yaml must reject.
func NonConforming(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), nonConformingKey{}, true))
}

type noTokenKey struct{}

// NoToken marks req to go without the client's token.
func NoToken(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), noTokenKey{}, true))
}

// Response is an answer with its body read.
type Response struct {
	*http.Response
	Body []byte
}

// JSON decodes the body into v, failing the test when it does not decode.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v\nbody: %s", r.Request.URL, err, r.Body)
	}
}

// ErrorCode is the "error.code" of an error answer, "" when there is none.
func (r *Response) ErrorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// NewRequest builds a request of path (with its query) on the server.
func (c *Client) NewRequest(method, path, contentType string, body []byte) *http.Request {
	c.t.Helper()
	ref, err := url.Parse(path)
	if err != nil {
		c.t.Fatalf("path %q: %v", path, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base.ResolveReference(ref).String(), rd)
	if err != nil {
		c.t.Fatalf("request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// Do sends req and reads the answer. Transport errors fail the test.
func (c *Client) Do(req *http.Request) *Response {
	c.t.Helper()
	r, err := c.Try(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return r
}

// Try is Do for tests that expect the exchange to fail, e.g. a request
// canceled by the client: it returns transport errors. The request is
// validated all the same.
func (c *Client) Try(req *http.Request) (*Response, error) {
	noToken, _ := req.Context().Value(noTokenKey{}).(bool)
	if c.token != "" && !noToken && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return &Response{Response: resp, Body: body}, nil
}

// Get sends GET path.
func (c *Client) Get(path string) *Response {
	c.t.Helper()
	return c.Do(c.NewRequest(http.MethodGet, path, "", nil))
}

// Delete sends DELETE path.
func (c *Client) Delete(path string) *Response {
	c.t.Helper()
	return c.Do(c.NewRequest(http.MethodDelete, path, "", nil))
}

// PostJSON sends POST path with v encoded as JSON.
func (c *Client) PostJSON(path string, v any) *Response {
	c.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	return c.Do(c.NewRequest(http.MethodPost, path, "application/json", body))
}

// validatingTransport checks each exchange against the contract on its way
// through; Client gives tests no other transport.
type validatingTransport struct {
	c    *Client
	next http.RoundTripper
}

// headersToDeclare are the headers whose presence in an answer the contract
// must declare for that answer: kin-openapi checks declared headers, this
// checks the converse.
var headersToDeclare = []string{"X-Request-Id", "Location", "Retry-After", "WWW-Authenticate", "Allow"}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := vt.c.t
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	nonConforming, _ := req.Context().Value(nonConformingKey{}).(bool)

	input, reqErr := vt.validateRequest(req, reqBody)
	switch {
	case nonConforming && reqErr == nil:
		t.Errorf("openapi.yaml accepts %s %s, which the test sends as non-conforming: the contract is looser than the API",
			req.Method, req.URL.RequestURI())
	case !nonConforming && reqErr != nil:
		t.Errorf("request %s %s does not conform to openapi.yaml: %v", req.Method, req.URL.RequestURI(), reqErr)
	}

	resp, err := vt.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := vt.validateResponse(input, resp, respBody); err != nil {
		t.Errorf("response %d to %s %s does not conform to openapi.yaml: %v\nbody: %s",
			resp.StatusCode, req.Method, req.URL.RequestURI(), err, respBody)
	}
	return resp, nil
}

// validateRequest checks req against the contract. It always returns an
// input to validate the response with: for requests the contract has no
// operation for, one whose answers are the 404 and 405 the router gives.
func (vt *validatingTransport) validateRequest(req *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	spec := vt.c.spec
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := spec.Router.FindRoute(vreq)
	if err != nil {
		return &openapi3filter.RequestValidationInput{Request: vreq, Route: vt.unroutedRoute(req)}, err
	}
	input := &openapi3filter.RequestValidationInput{
		Request:    vreq,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:  vt.authenticate,
			SkipSettingDefaults: true, // the request must go out as the test wrote it
			MultiError:          true,
		},
	}
	return input, openapi3filter.ValidateRequest(req.Context(), input)
}

// authenticate is the contract's bearer security: the client's token, when
// the server under test has one.
func (vt *validatingTransport) authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName == "hookToken" {
		// The registries' shared secret, which the client does not know:
		// the contract only says a bearer token is sent.
		if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
			return errors.New("no bearer token")
		}
		return nil
	}
	if vt.c.token == "" {
		return nil
	}
	if in.RequestValidationInput.Request.Header.Get("Authorization") != "Bearer "+vt.c.token {
		return errors.New("no valid bearer token")
	}
	return nil
}

// unroutedRoute answers for paths and methods the contract does not have:
// the router's 404 and 405, as components.responses describes them.
func (vt *validatingTransport) unroutedRoute(req *http.Request) *routers.Route {
	doc := vt.c.spec.Doc
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(
		openapi3.WithStatus(http.StatusNotFound, doc.Components.Responses["NotFound"]),
		openapi3.WithStatus(http.StatusMethodNotAllowed, doc.Components.Responses["MethodNotAllowed"]),
	)
	return &routers.Route{Spec: doc, Path: req.URL.Path, Method: req.Method, Operation: op}
}

func (vt *validatingTransport) validateResponse(input *openapi3filter.RequestValidationInput, resp *http.Response, body []byte) error {
	err := openapi3filter.ValidateResponse(input.Request.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		return err
	}
	ref := input.Route.Operation.Responses.Status(resp.StatusCode)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not in the contract", resp.StatusCode)
	}
	var undeclared []string
	for _, h := range headersToDeclare {
		if resp.Header.Get(h) != "" && !declares(ref.Value.Headers, h) {
			undeclared = append(undeclared, h)
		}
	}
	if len(undeclared) > 0 {
		return fmt.Errorf("headers %s are sent but not declared", strings.Join(undeclared, ", "))
	}
	if len(ref.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("a body is sent where the contract declares none")
	}
	return nil
}

func declares(headers openapi3.Headers, name string) bool {
	for h := range headers {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}
