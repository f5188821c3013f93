package scan

import "testing"

// BenchmarkCheckLabels is a worker's label check of an image carrying the
// three required labels, as a typical pipeline image does.
func BenchmarkCheckLabels(b *testing.B) {
	labels := map[string]string{
		LabelGitURL:   "https://github.com/example/app",
		LabelGitSHA:   "0123456789abcdef0123456789abcdef01234567",
		LabelEmailIDs: "dev@example.org,ops@example.org",
		"maintainer":  "team",
		"version":     "1.2.3",
	}
	b.ReportAllocs()
	for b.Loop() {
		got, errs := CheckLabels(labels)
		if len(errs) != 0 || got.GitSHA != labels[LabelGitSHA] {
			b.Fatalf("CheckLabels: %+v, %v", got, errs)
		}
	}
}
