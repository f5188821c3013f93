package registrytest

import (
	"maps"
	"testing"
)

func TestImageCarriesLabelsAnnotationsAndALayer(t *testing.T) {
	labels := map[string]string{"git-url": "https://example.org/r", "git-sha": "46e443d"}
	annotations := map[string]string{"org.opencontainers.image.revision": "46e443d"}
	img := Image(t, labels, annotations)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.Config.Labels, labels) || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("config: labels %v, platform %s/%s; want %v on linux/amd64", cfg.Config.Labels, cfg.OS, cfg.Architecture, labels)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(m.Annotations, annotations) || len(m.Layers) != 1 {
		t.Errorf("manifest: annotations %v, %d layers; want %v and one layer", m.Annotations, len(m.Layers), annotations)
	}
	if m2, _ := Image(t, labels, nil).Manifest(); m2.Annotations != nil || m2.Layers[0].Digest == m.Layers[0].Digest {
		t.Errorf("a second image: annotations %v, same layer %v; want none and a layer of its own", m2.Annotations, m2.Layers[0].Digest == m.Layers[0].Digest)
	}
}
