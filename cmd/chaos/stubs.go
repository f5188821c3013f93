package main

import "context"

func (h *harness) slowClients(ctx context.Context, cl *cleanups) row   { return row{skipped: true} }
func (h *harness) echoedSecrets(ctx context.Context, cl *cleanups) row { return row{skipped: true} }
