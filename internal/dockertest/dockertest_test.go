package dockertest

import (
	"context"
	"strings"
	"testing"
)

func TestBuildLabelledKeepsValuesExactly(t *testing.T) {
	d := New(t)
	want := map[string]string{"git-url": "  https://example.org/r  ", "odd": `a "quoted" $value, with commas`,
		// Markup stays itself: the hostile-label tests need '<' in a label.
		"markup": `<script>alert('x & y')</script>`, "backslash": `C:\dir\n`}
	id := d.BuildLabelled(t, UniqueName("dockertest"), want)
	img, err := d.Client.ImageInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got := img.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	ctr := d.CreateContainer(t, id)
	c, err := d.Client.ContainerInspect(context.Background(), ctr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Image, "sha256:") || c.Image != id {
		t.Errorf("container image = %q, want %q", c.Image, id)
	}
}
