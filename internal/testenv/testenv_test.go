package testenv

import (
	"testing"
)

func TestRandomHex(t *testing.T) {
	a, b := RandomHex(8), RandomHex(8)
	if len(a) != 16 || a == b {
		t.Errorf("RandomHex(8) gave %q and %q, want two different 16-digit strings", a, b)
	}
}

func TestRequireSkipsUnderShort(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks -short's behaviour; run with -short")
	}
	ran := false
	t.Run("dependency present", func(t *testing.T) {
		Require(t, "something", nil)
		ran = true
	})
	if ran {
		t.Error("Require let a test of a real dependency run under -short")
	}
}
