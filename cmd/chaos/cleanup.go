package main

import (
	"fmt"
	"io"
	"sync"
)

// cleanups runs what was started in reverse order of start, once, whether
// the run ended well, failed or was interrupted: a server subprocess, a
// second dockerd or a bridge left behind would disturb every later run and
// every other user of the machine.
type cleanups struct {
	mu    sync.Mutex
	steps []cleanupStep
	log   io.Writer
}

type cleanupStep struct {
	what string
	fn   func() error
}

func (c *cleanups) add(what string, fn func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps = append(c.steps, cleanupStep{what, fn})
}

// run undoes everything registered so far, newest first, and reports the
// steps that failed; it may be called again for what was added later.
func (c *cleanups) run() {
	c.mu.Lock()
	steps := c.steps
	c.steps = nil
	c.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(); err != nil {
			fmt.Fprintf(c.log, "chaos: cleanup: %s: %v\n", steps[i].what, err)
		}
	}
}
