// Command prog prints the version the way the project's binaries do; the
// package's test builds it with the image's linker flags.
package main

import (
	"fmt"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func main() { fmt.Print(version.Get().String()) }
