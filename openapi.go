// Package analyticsscanner holds what belongs to the repository as a whole:
// the HTTP API's OpenAPI document, embedded here because go:embed cannot
// reach a parent directory from internal/api.
package analyticsscanner

import _ "embed"

// OpenAPI is openapi.yaml, the contract of the service's HTTP API. The API
// serves it at /openapi.yaml and its tests validate every exchange against it.
//
//go:embed openapi.yaml
var OpenAPI []byte
