package docker

// Subscriptions is how many times the index has opened the daemon's event
// stream.
func (x *Index) Subscriptions() int64 { return x.subscriptions.Load() }
